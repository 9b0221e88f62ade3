"""What leaves a job for S3: the upload that follows a download while it is written."""
