# Production image: the app (with the S3 storage extra) without the embedded database/Redis extra. Static files are collected at build time.
FROM node:20-bookworm-slim AS assets
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DJANGO_SETTINGS_MODULE=config.settings
RUN apt-get update && apt-get install -y --no-install-recommends gettext && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 tsunagu
WORKDIR /app
COPY pyproject.toml README.md ./
COPY . .
COPY --from=assets /src/node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx.min.js
COPY --from=assets /src/node_modules/swagger-ui-dist/swagger-ui-bundle.js /src/node_modules/swagger-ui-dist/swagger-ui.css static/vendor/swagger-ui/
COPY --from=assets /src/node_modules/lucide-static/sprite.svg /src/node_modules/lucide-static/LICENSE static/vendor/lucide/
COPY --from=assets /src/node_modules/simple-icons/icons/facebook.svg /src/node_modules/simple-icons/icons/instagram.svg /src/node_modules/simple-icons/icons/x.svg /src/node_modules/simple-icons/icons/line.svg /src/node_modules/simple-icons/icons/whatsapp.svg /src/node_modules/simple-icons/icons/telegram.svg /src/node_modules/simple-icons/LICENSE.md static/vendor/simple-icons/
COPY --from=assets /src/node_modules/echarts/dist/echarts.min.js /src/node_modules/echarts/LICENSE static/vendor/echarts/
# Noto Sans JP for the PDF exports (read from disk by analytics/reports/rendering.py, embedded as subsets).
COPY --from=assets /src/node_modules/@expo-google-fonts/noto-sans-jp/400Regular/NotoSansJP_400Regular.ttf static/vendor/fonts/NotoSansJP-Regular.ttf
COPY --from=assets /src/node_modules/@expo-google-fonts/noto-sans-jp/700Bold/NotoSansJP_700Bold.ttf static/vendor/fonts/NotoSansJP-Bold.ttf
COPY --from=assets /src/node_modules/@expo-google-fonts/noto-sans-jp/LICENSE_FONT static/vendor/fonts/NotoSansJP-LICENSE.txt
# The asset library's uploads (Uppy + tus) and the content calendar (FullCalendar), as `make` copies them.
COPY --from=assets /src/node_modules/uppy/dist/uppy.min.js /src/node_modules/uppy/dist/uppy.min.css /src/node_modules/uppy/LICENSE /src/node_modules/@uppy/locales/dist/ja_JP.min.js static/vendor/uppy/
COPY --from=assets /src/node_modules/fullcalendar/index.global.min.js /src/node_modules/fullcalendar/LICENSE.md /src/node_modules/@fullcalendar/core/locales/ja.global.min.js static/vendor/fullcalendar/
RUN pip install --no-cache-dir ".[s3]" \
    && for po in locale/*/LC_MESSAGES/*.po; do msgfmt -o "${po%.po}.mo" "$po"; done \
    && DEBUG=0 SECRET_KEY=build-only TSUNAGU_ENCRYPTION_KEYS=YnVpbGQtb25seS1ub3QtYS1zZWNyZXQtMDEyMzQ1Njc= DATABASE_URL=postgresql://build@localhost/build REDIS_URL=redis://localhost:6379/0 \
       STATIC_ROOT=/app/staticfiles python manage.py collectstatic --noinput \
    && mkdir -p /app/media && chown tsunagu /app/media
# A production image: DEBUG off, and the settings refuse to start if someone turns it on (TSUNAGU_PRODUCTION).
ENV STATIC_ROOT=/app/staticfiles MEDIA_ROOT=/app/media DEBUG=0 TSUNAGU_PRODUCTION=1
USER tsunagu
EXPOSE 8000
CMD ["uvicorn", "config.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--lifespan", "off", "--proxy-headers"]
