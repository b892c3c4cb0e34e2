FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY api ./api
COPY domain ./domain
COPY geo ./geo
COPY cli ./cli
COPY alembic ./alembic
RUN pip install --no-cache-dir -e .
EXPOSE 8000
CMD ["huxiao", "serve"]
