"""The worker: takes jobs from SQS and runs each in a child process (yt-dlp + ffmpeg); outputs go to S3.

Parent process: `main` (the loop: long polling, heartbeat, time limits, SIGTERM, stop policy), `service` (one
message: triage duplicates, claim, run, settle task and message), `child` (forkserver children as the parent
sees them), `scratch` (per-worker and per-job folders), `settings`, `logs`.
Job child: `runner` (download, convert, upload), `options` (the pure yt-dlp option builder), `progress`,
`errors` (classification), `guard` and `proxy` (SSRF guard), `convert` (GIF); `spec` is what passes between
them and `preload` what the forkserver imports once.
"""
