//! The host a daemon runs on: its name, which names a node by default and
//! every cluster member (`<kind>/<hostname>`) and lead holder.

/// This machine's name as the kernel has it (the UTS namespace's, what
/// `uname -n` prints), or `localhost` when it cannot be read or is empty.
///
/// Only the kernel is asked: `$HOSTNAME` is a shell variable, seldom
/// exported, and when it is, it may be stale or describe another
/// namespace, so a member and its node could register under two names.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_hostname_is_the_kernels() {
        let name = super::hostname();
        assert!(!name.is_empty() && !name.contains(char::is_whitespace));
        if let Ok(kernel) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
            assert_eq!(name, kernel.trim());
        }
    }
}
