"""Admin operations: trigger jobs, follow them, holds, the backlog, the log."""
