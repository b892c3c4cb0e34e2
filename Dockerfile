FROM python:3.11-slim
# Campaign reports as PDF: WeasyPrint needs Pango, and Chinese text a CJK font.
RUN apt-get update && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/*
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
