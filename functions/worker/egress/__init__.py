"""What leaves a job: the SSRF guard (checked at connect time) and the loopback proxy ffmpeg goes through."""
