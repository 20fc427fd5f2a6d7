#pragma once
// SIGINT, SIGTERM and SIGHUP (a closed terminal or SSH session) become a cancellation request that long
// operations poll (and that run_process forwards to its child), so every guard object (paused containers,
// locks, temporary files) is released by the normal unwinding path instead of inside a signal handler.

namespace cwb::util {

/// Installs handlers for SIGINT, SIGTERM and SIGHUP (and ignores SIGPIPE). Safe to call more than once.
void install_cancellation_handlers();

/// True once SIGINT, SIGTERM or SIGHUP has arrived (or request_cancellation was called).
bool cancellation_requested() noexcept;

/// The signal that requested cancellation, 0 if none.
int cancellation_signal() noexcept;

/// The signal a child gets when we are cancelled: SIGINT stays SIGINT, anything else becomes SIGTERM
/// (restic and most programs end cleanly on SIGTERM, while SIGHUP would kill them mid-write).
int signal_for_children() noexcept;

/// A file descriptor that becomes readable when cancellation is requested: add it to poll() sets.
int cancellation_fd() noexcept;

/// Requests cancellation as if `signal` had arrived (tests, and the hooks' own time limits).
void request_cancellation(int signal) noexcept;

/// Clears the request (tests only).
void reset_cancellation() noexcept;

/// Sets a cancellation request aside while it lives and restores it afterwards, for release and rollback
/// paths that must run to the end *because* of a signal: HTTP transfers and child processes abort while
/// cancellation is requested, so without a shield a SIGTERM would leave Connectware paused or half-restored.
/// A signal that arrives while shielded is kept and takes effect when the shield ends.
class CancellationShield {
public:
  CancellationShield() : signal_(cancellation_signal()) {
    if (signal_ != 0) reset_cancellation();
  }
  ~CancellationShield() {
    const int arrived = cancellation_signal();
    if (signal_ != 0 || arrived != 0) request_cancellation(signal_ != 0 ? signal_ : arrived);
  }
  CancellationShield(const CancellationShield&) = delete;
  CancellationShield& operator=(const CancellationShield&) = delete;

private:
  int signal_;
};

} // namespace cwb::util
