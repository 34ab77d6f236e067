"""The staff pages under /staff/: accounts, sign-in, sessions, access checks and the audit log.

Layout (one idea a module):
- `passwords.py`: argon2id hashing, generated passwords, the dummy hash for unknown accounts.
- `accounts.py`: add, disable, reset a password, make sure an admin exists (CLI and pages).
- `signin.py`: checking a sign-in, with throttling per account and per client address.
- `sessions.py`: server-side sessions: create, load (idle and absolute expiry), end.
- `access.py`: what later pages reuse: the middleware (session, CSRF), `require_role`,
  `public`, `current_staff`, `audit_action` / `audit_view`, `render` and the page headers.
- `pages.py`: the handlers (sign in, sign out, the landing page, staff accounts) and
  `install_staff(app, ...)`, the one call `bot/app.py` makes.
- `cli.py`: `caredesk staff ...`.
"""
