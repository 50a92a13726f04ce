FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app

COPY pyproject.toml README.md alembic.ini ./
COPY src ./src
COPY migrations ./migrations
# Editable, so that the CLI finds the migrations beside the package; with Flower,
# so that the same image serves the `flower` service of docker-compose.yml.
RUN pip install --no-cache-dir -e '.[flower]' && useradd --create-home app && chown -R app /app
USER app

EXPOSE 8000
CMD ["uvicorn", "interview_retention.api.app:app_factory", "--factory", "--host", "0.0.0.0", "--port", "8000"]
