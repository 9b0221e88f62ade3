"""The worker: takes jobs from SQS and runs each in a child process (yt-dlp + ffmpeg); outputs go to S3.

Parent process: `main` (the loop: long polling, heartbeat, SIGTERM, stop policy), `service` (one message, start
to end: triage duplicates, claim, run, settle task and message), `settings`.

- `jobs/`: one job's child process as the parent sees it (`child`: forkserver launcher), what it is handed
  (`spec`), its scratch space (`scratch`) and what the forkserver imports once (`preload`).
- `download/`: what runs inside the child: the pure yt-dlp option builder (`options`), the runner (download,
  convert, upload), `progress`, post-steps yt-dlp lacks (`convert`) and error triage (`errors`).
- `egress/`: what leaves a job: the SSRF guard checked at connect time (`guard`), the loopback SOCKS5 proxy and
  ffmpeg gateway every connection goes through (`proxy`), manifest rewriting (`playlists`), the ffmpeg wrapper
  (`ffmpeg_shim`), the operator's upstream proxies (`upstream`) and blocking detection (`blocking`).
"""
