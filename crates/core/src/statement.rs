//! The bank's statement: one CSV line per payout it made (`docs/payout-channel.md`):
//! `payout_id,reference,amount_fen,bank_reference,paid_at`, with a header line. Each line parses
//! on its own, so a garbage line is reported with its number and the good lines still count.

use crate::{Fen, Timestamp};

pub const HEADER: &str = "payout_id,reference,amount_fen,bank_reference,paid_at";

/// One payout as the bank reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementLine {
    pub payout_id: String,
    pub reference: String,
    pub amount: Fen,
    pub bank_reference: String,
    pub paid_at: Timestamp,
}

/// Why a line was not read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError {
    /// 1-based, counting the header.
    pub line: u64,
    pub message: String,
}

/// Parses line `number` (its bytes without the line end). `Ok(None)` for the header and blank
/// lines.
pub fn parse_line(number: u64, bytes: &[u8]) -> Result<Option<StatementLine>, LineError> {
    let fail = |message: &str| LineError { line: number, message: message.to_owned() };
    let text = std::str::from_utf8(bytes).map_err(|_| fail("not UTF-8"))?;
    let text = text.trim_end_matches('\r').trim_start_matches('\u{feff}');
    if text.trim().is_empty() || text == HEADER {
        return Ok(None);
    }
    let fields: Vec<&str> = text.split(',').map(str::trim).collect();
    let [payout_id, reference, amount, bank_reference, paid_at] = fields[..] else {
        return Err(fail(&format!("expected 5 fields, found {}", fields.len())));
    };
    let id_ok = |s: &str, prefix: &str| {
        s.starts_with(prefix) && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    };
    if !id_ok(payout_id, "po_") {
        return Err(fail("payout_id is not a payout id (po_…)"));
    }
    if reference.is_empty() || reference.len() > 64 {
        return Err(fail("reference is missing"));
    }
    let amount: i64 = amount.parse().map_err(|_| fail("amount_fen is not a whole number of fen"))?;
    if amount <= 0 {
        return Err(fail("amount_fen must be more than 0"));
    }
    if bank_reference.is_empty() || bank_reference.len() > 64 {
        return Err(fail("bank_reference is missing"));
    }
    let paid_at = Timestamp::parse_rfc3339(paid_at).ok_or_else(|| fail("paid_at is not an RFC 3339 time"))?;
    Ok(Some(StatementLine {
        payout_id: payout_id.to_owned(),
        reference: reference.to_owned(),
        amount: Fen::new(amount),
        bank_reference: bank_reference.to_owned(),
        paid_at,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the bytes, a line is read or refused with its number: never a panic.
        #[test]
        fn any_bytes_are_read_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..200), number in 1u64..1_000_000) {
            match parse_line(number, &bytes) {
                Ok(_) => {}
                Err(e) => prop_assert_eq!(e.line, number),
            }
        }

        /// A well-formed line is read exactly as written, whatever its fields hold.
        #[test]
        fn every_well_formed_line_reads_back(
            id in "[A-Za-z0-9_]{1,40}",
            reference in "[A-Za-z0-9_-]{1,64}",
            amount in 1i64..=Fen::PARSE_MAX.get(),
            bank in "[A-Za-z0-9]{1,64}",
            at in 0i64..4_102_444_800_000,
            crlf in any::<bool>(),
        ) {
            let paid_at = Timestamp::from_millis(at);
            let text = format!("po_{id},{reference},{amount},{bank},{}{}", paid_at.to_rfc3339(), if crlf { "\r" } else { "" });
            let line = parse_line(7, text.as_bytes()).unwrap().unwrap();
            prop_assert_eq!(line, StatementLine {
                payout_id: format!("po_{id}"),
                reference,
                amount: Fen::new(amount),
                bank_reference: bank,
                paid_at,
            });
        }

        /// A line that is not five fields, or whose amount is not a positive whole number, is
        /// refused.
        #[test]
        fn what_is_not_a_payout_is_refused(amount in "-?[0-9]{0,3}([.][0-9])?|[a-z]{1,5}", extra in 0usize..3) {
            let fields = 5 + extra;
            let mut parts = vec!["po_1".to_owned(), "ra_1".to_owned(), amount.clone(), "B".to_owned(), "2026-11-25T06:43:14Z".to_owned()];
            parts.resize(fields, "x".to_owned());
            let read = parse_line(3, parts.join(",").as_bytes());
            let positive_whole = amount.parse::<i64>().is_ok_and(|a| a > 0);
            prop_assert_eq!(read.is_ok(), extra == 0 && positive_whole, "{:?}", read);
        }
    }

    #[test]
    fn good_and_bad_lines() {
        assert_eq!(parse_line(1, HEADER.as_bytes()), Ok(None));
        assert_eq!(parse_line(2, b""), Ok(None));
        let line = parse_line(3, b"po_01ab,ra_01cd,9900,SBX1,2026-11-25T06:43:14.113Z\r").unwrap().unwrap();
        assert_eq!((line.payout_id.as_str(), line.amount.get()), ("po_01ab", 9900));
        for (bad, why) in [
            (&b"po_1,ra_1,99"[..], "expected 5 fields"),
            (b"xx_1,ra_1,99,B,2026-11-25T06:43:14Z", "payout_id"),
            (b"po_1,ra_1,9.9,B,2026-11-25T06:43:14Z", "whole number"),
            (b"po_1,ra_1,-1,B,2026-11-25T06:43:14Z", "more than 0"),
            (b"po_1,ra_1,99,B,yesterday", "RFC 3339"),
            (b"po_1,ra_1,99,B,2026-11-25T06:43:14Z\xff", "UTF-8"),
        ] {
            let e = parse_line(9, bad).unwrap_err();
            assert!(e.message.contains(why) && e.line == 9, "{e:?}");
        }
    }
}
