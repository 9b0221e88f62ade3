"""yt-dlp and ffmpeg inside a job child: the pure option builder, the runner, progress, post-steps and error triage."""
