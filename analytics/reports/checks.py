"""System check: the fonts PDF exports embed are on disk (copied from npm by `make`, or by the Docker image). A
warning, not an error: everything but PDF exports works without them."""

from django.core import checks

from analytics.reports.rendering import FONT_BOLD, FONT_REGULAR


@checks.register()
def fonts_present(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    missing = [str(path) for path in (FONT_REGULAR, FONT_BOLD) if not path.exists()]
    if not missing:
        return []
    return [
        checks.Warning(
            f"PDF exports need {', '.join(missing)}",
            hint="Run `make` (it copies Noto Sans JP from node_modules into static/vendor/fonts).",
            id="analytics_reports.W001",
        )
    ]
