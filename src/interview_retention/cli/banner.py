"""What `make run` prints before it starts: where things are and how to sign in."""

from interview_retention.config import get_settings, redact_url


def main() -> None:
    settings = get_settings()
    base = f"http://127.0.0.1:{settings.port}"
    broker = (
        redact_url(settings.redis_url)
        if settings.redis_url
        else f"folder broker under {settings.var_dir}"
    )
    print(
        f"""
interview-retention is starting on {base}  (API docs: {base}/docs)
  database: {redact_url(settings.database_url)}
  broker:   {broker}

Get a token, in another terminal:
  .venv/bin/interview-retention users create --email you@example.com --admin
Then open {base}/app/ and sign in with the token, or:
  curl -H "Authorization: Bearer <token>" {base}/api/interview/sessions
Load sample data and watch the jobs:
  .venv/bin/interview-retention sample --out var/sample.jsonl
  .venv/bin/interview-retention import var/sample.jsonl
  .venv/bin/interview-retention backlog
""",
        flush=True,
    )


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["--port"]:
        print(get_settings().port)
    else:
        main()
