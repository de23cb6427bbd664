//! Whether a thread held in a ptrace stop was waiting: blocked inside a system call, or on its
//! way back into one. A thread that read `R` just before a pause may be runnable only because
//! the previous pause woke it (a resumed thread restarts its interrupted call); the registers
//! of the stopped thread tell the two apart.

/// The kernel's restart codes (include/linux/errno.h): a syscall's return value while a
/// signal or ptrace stop interrupts it, before it is restarted on resume.
/// https://github.com/torvalds/linux/blob/v6.1/include/linux/errno.h
#[cfg(target_arch = "x86_64")]
const RESTART_CODES: [i64; 4] = [-512, -513, -514, -516];

/// `__NR_restart_syscall` on x86_64: how a call interrupted with -516 is resumed.
#[cfg(target_arch = "x86_64")]
const RESTART_SYSCALL: i64 = 219;

#[cfg(target_arch = "x86_64")]
pub fn stopped_in_blocking_call(tid: u32) -> bool {
    // SAFETY: user_regs_struct is plain data; PTRACE_GETREGS on a thread we hold stopped fills
    // it, and on any other thread fails with ESRCH without touching it.
    let mut regs: libc::user_regs_struct = unsafe { std::mem::zeroed() };
    let ok = unsafe {
        libc::ptrace(
            libc::PTRACE_GETREGS,
            tid as libc::pid_t,
            0,
            &mut regs as *mut libc::user_regs_struct,
        )
    } == 0;
    if !ok {
        return false;
    }
    // orig_rax is the syscall number inside a syscall, -1 in user code.
    let (syscall, result) = (regs.orig_rax as i64, regs.rax as i64);
    if syscall >= 0 && RESTART_CODES.contains(&result) {
        return true;
    }
    // Otherwise only a thread about to (re-)enter a call waits: rip on the `syscall`
    // instruction (0f 05; a call that returned has rip past it), either still in the kernel
    // with the interrupted call set up again (its number, or restart_syscall's, back in rax),
    // or already in user code with a waiting call's number in rax.
    let restarting = syscall >= 0 && (result == syscall || result == RESTART_SYSCALL);
    let about_to_wait = syscall < 0 && is_wait(result, regs.rsi);
    if !(restarting || about_to_wait) {
        return false;
    }
    // SAFETY: PEEKTEXT reads one word of a thread we hold stopped; errors come back as -1.
    let word = unsafe { libc::ptrace(libc::PTRACE_PEEKTEXT, tid as libc::pid_t, regs.rip, 0) };
    (word as u64).to_le_bytes()[..2] == [0x0f, 0x05]
}

/// Whether syscall `number` (x86_64) with first-but-one argument `arg1` blocks until something
/// happens: sleeps, polls, waits on a futex (not a futex wake).
#[cfg(target_arch = "x86_64")]
fn is_wait(number: i64, arg1: u64) -> bool {
    const FUTEX: i64 = 202;
    // FUTEX_WAIT, FUTEX_LOCK_PI, FUTEX_WAIT_BITSET, FUTEX_WAIT_REQUEUE_PI, FUTEX_LOCK_PI2, once
    // the private and clock flags are masked off (include/uapi/linux/futex.h).
    const FUTEX_WAITS: [u64; 5] = [0, 6, 9, 11, 13];
    // poll 7, select 23, pause 34, nanosleep 35, wait4 61, rt_sigtimedwait 128,
    // rt_sigsuspend 130, restart_syscall 219, clock_nanosleep 230, epoll_wait 232,
    // waitid 247, pselect6 270, ppoll 271, epoll_pwait 281, epoll_pwait2 441.
    const WAITS: [i64; 15] = [
        7, 23, 34, 35, 61, 128, 130, 219, 230, 232, 247, 270, 271, 281, 441,
    ];
    if number == FUTEX {
        return FUTEX_WAITS.contains(&(arg1 & 0x7f));
    }
    WAITS.contains(&number)
}

#[cfg(not(target_arch = "x86_64"))]
pub fn stopped_in_blocking_call(_tid: u32) -> bool {
    false
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::is_wait;

    #[test]
    fn waits_are_sleeps_polls_and_futex_waits_not_wakes() {
        assert!(is_wait(230, 1), "clock_nanosleep");
        assert!(is_wait(270, 0), "pselect6");
        assert!(is_wait(202, 0x80), "FUTEX_WAIT | FUTEX_PRIVATE_FLAG");
        assert!(
            is_wait(202, 0x80 | 0x100 | 9),
            "FUTEX_WAIT_BITSET, private, realtime"
        );
        assert!(!is_wait(202, 0x81), "FUTEX_WAKE | FUTEX_PRIVATE_FLAG");
        assert!(!is_wait(0, 0), "read");
        assert!(!is_wait(1, 0), "write");
        assert!(!is_wait(-1, 0), "no syscall");
    }
}
