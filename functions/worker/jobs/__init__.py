"""One job's child process as the worker sees it: the launcher, the spec it receives, its scratch space, what the forkserver preloads."""
