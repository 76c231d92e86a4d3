"""HTTP plumbing the app installs around every route: body size limit, security headers, rate
limit."""
