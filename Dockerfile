FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml ./
COPY federation ./federation
COPY hub ./hub
COPY stub_idp ./stub_idp
COPY stub_service ./stub_service
COPY keys/__init__.py keys/__main__.py keys/pki.py ./keys/
COPY federation.yaml ./
RUN pip install --no-cache-dir .
