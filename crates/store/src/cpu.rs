//! Keeping a thread to one CPU (Linux; elsewhere a no-op). SQLite's writer is one connection
//! whose every statement is a hand-off to sqlx's worker thread and back: between two CPUs each
//! hand-off wakes the other CPU with an inter-processor interrupt, which on a virtual machine
//! costs an exit to the hypervisor. Kept on one CPU, the same hand-offs are plain context
//! switches: `yajin import terminals` went from 918 to 4,374 rows/s on the 2-core machine of
//! `docs/benchmarks.md` (session 10).

/// Keeps the calling thread (and the threads it starts from now on, which inherit it) to the
/// last CPU the process may run on. Failing that, nothing changes: it is only faster.
pub(crate) fn keep_to_one() {
    #[cfg(target_os = "linux")]
    // SAFETY: `cpu_set_t` is plain data that the CPU_* functions index within its size, and
    // `sched_{get,set}affinity` with pid 0 read and write the calling thread's own mask from a
    // value of that size.
    unsafe {
        let size = std::mem::size_of::<libc::cpu_set_t>();
        let mut allowed: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, size, &mut allowed) != 0 {
            return;
        }
        let Some(last) = (0..libc::CPU_SETSIZE as usize).rev().find(|&cpu| libc::CPU_ISSET(cpu, &allowed)) else {
            return;
        };
        let mut one: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(last, &mut one);
        if libc::sched_setaffinity(0, size, &one) != 0 {
            tracing::debug!(cpu = last, "could not keep the writer thread to one CPU");
        }
    }
}
