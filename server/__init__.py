"""The Flask side: sign-in, security headers, runs, upload and export routes, services."""
