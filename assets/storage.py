"""Where asset files live: the default storage (the local filesystem under MEDIA_ROOT) unless ASSETS_S3_BUCKET is
set, then an S3-compatible bucket through django-storages (`pip install -e .[s3]`; endpoint, region and credentials
from ASSETS_S3_* settings or boto3's usual environment). Either way files are private: they reach a browser only
through the permission-checked views in assets/file_views.py (core.files.serve_file), never from a public URL."""

import functools

from django.conf import settings
from django.core.files.storage import Storage, default_storage


@functools.cache
def _s3_storage(bucket: str) -> Storage:
    from storages.backends.s3 import S3Storage  # optional dependency, imported only when configured

    return S3Storage(
        bucket_name=bucket,
        endpoint_url=getattr(settings, "ASSETS_S3_ENDPOINT_URL", "") or None,
        region_name=getattr(settings, "ASSETS_S3_REGION", "") or None,
        location=getattr(settings, "ASSETS_S3_PREFIX", ""),
        default_acl="private",
        querystring_auth=True,
        file_overwrite=False,
    )


def asset_storage() -> Storage:
    """The storage of asset files (a callable, so Django keeps it out of migrations and tests can switch it)."""
    bucket = getattr(settings, "ASSETS_S3_BUCKET", "")
    return _s3_storage(bucket) if bucket else default_storage
