"""Publishing in Meta's part of the simulator: page posts (`/{page-id}/feed`, `/{page-id}/photos`, unpublished photos
attached with `attached_media`), the Instagram container flow (`/{ig-user-id}/media`, the container's `status_code`,
`/{ig-user-id}/media_publish`, `content_publishing_limit`), and the listings Tsunagu searches to reconcile an
interrupted publish (`GET /{page-id}/feed`, `GET /{ig-user-id}/media`). Every published post is recorded in `posts`
(and `state()["posts"]`), so tests and the demo can count them. Never imports Django."""

from __future__ import annotations

import html
import json
import random
import time

import requests

from channels_integrations.simulator.core import Request, Response

V = r"/v\d+\.\d+"
INSTAGRAM_QUOTA = 50  # posts per moving 24 hours (ig-user/content_publishing_limit)


class MetaPublishing:
    """Mixed into MetaSimulator (which provides `sim`, `pages`, `_gate`, `_params`, `_page_for_token`, `_page_of`,
    `_iso`)."""

    def reset_publishing(self) -> None:
        self.posts: list[dict] = []  # published: platform, account, id, text, link, media, time, permalink
        self.photos: dict[str, dict] = {}  # unpublished photo id -> its upload
        self.containers: dict[str, dict] = {}  # Instagram container id -> what it holds and its state
        self.container_polls = 1  # status checks answered IN_PROGRESS before a container is FINISHED
        self.instagram_quota = INSTAGRAM_QUOTA
        # Meta fetches `image_url` itself: tests route this to Django's test client.
        self.fetch_media = lambda url: _fetch(url)

    def published(self, platform: str = "") -> list[dict]:
        with self.sim.lock:
            return [dict(p) for p in self.posts if not platform or p["platform"] == platform]

    def published_html(self) -> str:
        """The latest posts Tsunagu published here, for the operator page (the demo shows them arriving)."""
        rows = "".join(
            f"<li>{html.escape((p.get('text') or _first_text(p))[:80])}</li>" for p in reversed(self.published()[-5:])
        )
        return f"<p>{len(self.posts)} posts published</p><ul>{rows}</ul>" if rows else "<p>No posts published yet</p>"

    def publishing_routes(self):
        return [
            ("POST", V + r"/(?P<page>\d+)/photos", self._photos),
            ("POST", V + r"/(?P<page>\d+)/feed", self._feed_post),
            ("GET", V + r"/(?P<page>\d+)/feed", self._feed_list),
            ("GET", V + r"/(?P<account>\d+)/content_publishing_limit", self._publishing_limit),
            ("POST", V + r"/(?P<account>\d+)/media", self._container_create),
            ("GET", V + r"/(?P<account>\d+)/media", self._media_list),
            ("POST", V + r"/(?P<account>\d+)/media_publish", self._media_publish),
            ("GET", V + r"/(?P<object>\d+(?:_\d+)?)", self._object),
        ]

    # --- helpers ----------------------------------------------------------------------------------------------------
    def _new_id(self) -> str:
        return str(random.randint(10**16, 10**17 - 1))

    def _own_page(self, r: Request, page: str) -> Response | None:
        refused = self._gate(r)
        if refused:
            return refused
        if self._page_for_token(r) != page:
            return self._error("(#200) The user hasn't authorized the application to perform this action", 200)
        return None

    def _own_instagram(self, r: Request, account: str) -> Response | None:
        refused = self._gate(r)
        if refused:
            return refused
        page = self.pages.get(self._page_for_token(r) or "", {})
        if page.get("ig_id") != account:
            return self._error("(#10) Application does not have permission for this action", 10)
        return None

    def _error(self, message: str, code: int, *, subcode: int | None = None) -> Response:
        error = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "Sim" + self._new_id()[:8]}
        if subcode is not None:
            error["error_subcode"] = subcode
        return Response(400, {"error": error})

    def _record(self, **post) -> dict:
        post.setdefault("time", time.time())
        with self.sim.lock:
            self.posts.append(post)
        return post

    # --- Facebook ---------------------------------------------------------------------------------------------------
    def _photos(self, r: Request, m) -> Response:
        refused = self._own_page(r, m["page"])
        if refused:
            return refused
        p = self._params(r)
        files = r.files()
        if "source" not in files and not p.get("url"):
            return self._error("(#324) Requires upload file", 324)
        filename, content_type, content = files.get("source", ("", "", b""))
        if files and not content_type.startswith("image/"):
            return self._error("(#100) Invalid image type", 100)
        photo_id = self._new_id()
        upload = {"id": photo_id, "filename": filename, "content_type": content_type, "size": len(content)}
        if str(p.get("published", "true")).lower() == "false":
            with self.sim.lock:
                self.photos[photo_id] = upload
            return Response(body={"id": photo_id})
        post_id = f"{m['page']}_{self._new_id()}"
        self._record(
            platform="facebook",
            account=m["page"],
            id=post_id,
            text=p.get("caption", ""),
            link="",
            media=[upload],
            permalink=f"https://www.facebook.com/{post_id}",
        )
        return Response(body={"id": photo_id, "post_id": post_id})

    def _feed_post(self, r: Request, m) -> Response:
        refused = self._own_page(r, m["page"])
        if refused:
            return refused
        p = self._params(r)
        media = []
        for key in sorted(k for k in p if k.startswith("attached_media[")):
            try:
                fbid = str(json.loads(p[key]).get("media_fbid", ""))
            except (ValueError, AttributeError):
                return self._error("(#100) Invalid attached_media", 100)
            with self.sim.lock:
                photo = self.photos.pop(fbid, None)
            if photo is None:
                return self._error(f"(#100) Invalid media_fbid {fbid}", 100)
            media.append(photo)
        text, link = p.get("message", ""), p.get("link", "")
        if not text and not link and not media:
            return self._error("(#100) The post is empty", 100)
        if len(text) > 63206:
            return self._error("(#100) Param message must be at most 63206 characters long", 100)
        post_id = f"{m['page']}_{self._new_id()}"
        self._record(
            platform="facebook",
            account=m["page"],
            id=post_id,
            text=text,
            link=link,
            media=media,
            permalink=f"https://www.facebook.com/{post_id}",
        )
        self.sent.append({"kind": "post", "page": m["page"], "text": text, "id": post_id})
        return Response(body={"id": post_id})

    def _feed_list(self, r: Request, m) -> Response:
        refused = self._own_page(r, m["page"])
        if refused:
            return refused
        try:
            since = float(r.arg("since") or 0)
        except ValueError:
            return self._error("(#100) Invalid since", 100)
        posts = [
            {**p, "likes": 0, "comments": 0}
            for p in self.published("facebook")
            if p["account"] == m["page"] and p["time"] >= since
        ]

        def render(p: dict) -> dict:
            body = {"id": p["id"], "created_time": self._iso(p["time"]), "permalink_url": p["permalink"]}
            if p["text"]:
                body["message"] = p["text"]
            return body

        return self._page_of(r, posts, render)

    # --- Instagram --------------------------------------------------------------------------------------------------
    def _publishing_limit(self, r: Request, m) -> Response:
        refused = self._own_instagram(r, m["account"])
        if refused:
            return refused
        return Response(
            body={
                "data": [
                    {
                        "quota_usage": self._used_today(m["account"]),
                        "config": {"quota_total": self.instagram_quota, "quota_duration": 86400},
                    }
                ]
            }
        )

    def _used_today(self, account: str) -> int:
        day_ago = time.time() - 86400
        return sum(1 for p in self.published("instagram") if p["account"] == account and p["time"] > day_ago)

    def _container_create(self, r: Request, m) -> Response:
        refused = self._own_instagram(r, m["account"])
        if refused:
            return refused
        p = self._params(r)
        container = {"id": self._new_id(), "account": m["account"], "polls": self.container_polls, "status": ""}
        if p.get("media_type") == "CAROUSEL":
            children = [c for c in str(p.get("children", "")).split(",") if c]
            if not 2 <= len(children) <= 10:
                return self._error("(#100) A carousel takes 2 to 10 children", 100)
            for child in children:
                held = self.containers.get(child)
                if held is None or not held.get("carousel_item") or held["account"] != m["account"]:
                    return self._error(f"(#100) Invalid child {child}", 100)
            container |= {"carousel": children, "caption": p.get("caption", "")}
        else:
            url = p.get("image_url", "")
            if not url:
                return self._error("(#100) The parameter image_url is required", 100)
            status, content_type, content = self.fetch_media(url)
            if status != 200:
                container["status"] = "ERROR"
                container["error"] = f"2207003: Media download has failed (the URL answered {status})"
            elif content_type != "image/jpeg":
                container["status"] = "ERROR"
                container["error"] = "2207026: Unsupported media type (only JPEG images)"
            container |= {
                "image_url": url,
                "size": len(content),
                "carousel_item": str(p.get("is_carousel_item", "")).lower() == "true",
                "caption": p.get("caption", ""),
            }
        with self.sim.lock:
            self.containers[container["id"]] = container
        return Response(body={"id": container["id"]})

    def _container_status(self, container: dict) -> dict:
        with self.sim.lock:
            if not container["status"]:
                if container["polls"] > 0:
                    container["polls"] -= 1
                    return {"id": container["id"], "status_code": "IN_PROGRESS", "status": "In Progress"}
                container["status"] = "FINISHED"
        body = {"id": container["id"], "status_code": container["status"]}
        if container.get("error"):
            body["status"] = container["error"]
        return body

    def _media_publish(self, r: Request, m) -> Response:
        refused = self._own_instagram(r, m["account"])
        if refused:
            return refused
        if self._used_today(m["account"]) >= self.instagram_quota:
            return self._error(
                "Application request limit reached: the account reached the maximum number of posts", 9, subcode=2207042
            )
        creation = str(self._params(r).get("creation_id", ""))
        container = self.containers.get(creation)
        if container is None or container["account"] != m["account"] or container.get("carousel_item"):
            return self._error("(#100) Invalid creation_id", 100)
        if container["status"] == "PUBLISHED":
            return self._error("(#9007) The media was already published", 9007)
        if container["status"] != "FINISHED":
            return self._error("(#9007) Media ID is not available: the media is not ready for publishing", 9007)
        container["status"] = "PUBLISHED"
        media_id = self._new_id()
        children = [self.containers[c] for c in container.get("carousel", [])]
        media = [{"image_url": c["image_url"], "size": c["size"]} for c in children or [container]]
        self._record(
            platform="instagram",
            account=m["account"],
            id=media_id,
            text=container.get("caption", ""),
            link="",
            media=media,
            media_type="CAROUSEL_ALBUM" if children else "IMAGE",
            permalink=f"https://www.instagram.com/p/{media_id[-11:]}/",
        )
        return Response(body={"id": media_id})

    def _media_list(self, r: Request, m) -> Response:
        refused = self._own_instagram(r, m["account"])
        if refused:
            return refused
        posts = [{**p} for p in self.published("instagram") if p["account"] == m["account"]]

        def render(p: dict) -> dict:
            return {
                "id": p["id"],
                "caption": p["text"],
                "media_type": p["media_type"],
                "permalink": p["permalink"],
                "timestamp": self._iso(p["time"]),
            }

        return self._page_of(r, posts, render)

    def _object(self, r: Request, m) -> Response | None:
        """A container's status, a published post's permalink; anything else is another route's (profiles)."""
        object_id = m["object"]
        container = self.containers.get(object_id)
        if container is not None:
            refused = self._own_instagram(r, container["account"])
            return refused or Response(body=self._container_status(container))
        post = next((p for p in self.published() if p["id"] == object_id), None)
        if post is None:
            return None
        refused = self._gate(r)
        if refused:
            return refused
        field = "permalink" if post["platform"] == "instagram" else "permalink_url"
        return Response(body={"id": post["id"], field: post["permalink"]})


def _fetch(url: str) -> tuple[int, str, bytes]:
    try:
        response = requests.get(url, timeout=10)
    except requests.RequestException:
        return 0, "", b""
    return response.status_code, response.headers.get("Content-Type", "").split(";")[0].strip(), response.content


def _first_text(post: dict) -> str:
    for message in post.get("messages") or []:
        if message.get("type") == "text":
            return message.get("text", "")
    return ""
