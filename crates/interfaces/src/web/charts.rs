//! Bar charts for the console, laid out here and drawn by the template as SVG: no script, no
//! library, and they print.

/// One bar: its label under the axis, its value, where it is drawn, and its tooltip.
pub struct Bar {
    pub label: String,
    pub value: i64,
    pub x: i64,
    pub y: i64,
    pub width: i64,
    pub height: i64,
    pub title: String,
}

pub struct BarChart {
    pub title: String,
    pub bars: Vec<Bar>,
    pub width: i64,
    pub height: i64,
    /// Where the axis is (the bars stand on it).
    pub baseline: i64,
    /// Every `label_every`-th label is shown, so that labels do not collide.
    pub label_every: usize,
}

const WIDTH: i64 = 600;
const HEIGHT: i64 = 220;
const PLOT_TOP: i64 = 16;
const PLOT_BOTTOM: i64 = 190;
const MAX_BAR_WIDTH: i64 = 48;

impl BarChart {
    /// Bars for `(label, value, tooltip)`, scaled to the largest value.
    pub fn new(title: impl Into<String>, points: Vec<(String, i64, String)>) -> BarChart {
        let max = points.iter().map(|p| p.1).max().unwrap_or(0).max(1);
        let n = points.len().max(1) as i64;
        let slot = WIDTH / n;
        let width = (slot * 7 / 10).clamp(2, MAX_BAR_WIDTH);
        let plot = PLOT_BOTTOM - PLOT_TOP;
        let bars = points
            .into_iter()
            .enumerate()
            .map(|(i, (label, value, title))| {
                let height = value.max(0) * plot / max;
                Bar {
                    label,
                    value,
                    x: i as i64 * slot + (slot - width) / 2,
                    y: PLOT_BOTTOM - height,
                    width,
                    height,
                    title,
                }
            })
            .collect::<Vec<_>>();
        let label_every = (bars.len() / 8).max(1);
        BarChart { title: title.into(), bars, width: WIDTH, height: HEIGHT, baseline: PLOT_BOTTOM, label_every }
    }

    pub fn label_y(&self) -> i64 {
        self.baseline + 16
    }

    pub fn shows_label(&self, index: &usize) -> bool {
        index.is_multiple_of(self.label_every)
    }

    pub fn is_empty(&self) -> bool {
        self.bars.iter().all(|b| b.value == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_scaled_to_the_largest_and_stand_on_the_axis() {
        let chart = BarChart::new(
            "t",
            vec![("a".into(), 0, String::new()), ("b".into(), 5, String::new()), ("c".into(), 10, String::new())],
        );
        let heights: Vec<i64> = chart.bars.iter().map(|b| b.height).collect();
        assert_eq!(heights, vec![0, (PLOT_BOTTOM - PLOT_TOP) / 2, PLOT_BOTTOM - PLOT_TOP]);
        assert!(chart.bars.iter().all(|b| b.y + b.height == chart.baseline));
        assert!(chart.bars.windows(2).all(|w| w[0].x + w[0].width < w[1].x), "bars do not overlap");
        assert!(!chart.is_empty());
        assert!(BarChart::new("t", vec![("a".into(), 0, String::new())]).is_empty());
    }
}
