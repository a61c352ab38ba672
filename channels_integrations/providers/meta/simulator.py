"""Meta's part of the platform simulator: the Graph API endpoints Tsunagu calls (OAuth dialog and token exchange,
/me/accounts, subscribed_apps, the Send API, comment replies, page posts) with Meta's response and error shapes,
and customers who write — delivered as signed webhooks to `/webhooks/meta/` like Meta does."""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import random
import re
import secrets
import threading
import time
from urllib.parse import urlencode

from channels_integrations.providers.meta.simulator_publish import MetaPublishing
from channels_integrations.simulator.core import Request, Response, SimulatorPart

V = r"/v\d+\.\d+"
DEMO_PAGE = {
    "id": "100000000000001",
    "name": "Tsunagu Demo Store",
    "ig_id": "17841400000000001",
    "ig_username": "tsunagu_demo",
}
# Public posts of strangers, for social listening (hashtag search, tagged media, posts tagging the page): the demo's
# brand is ツナグ / Tsunagu, its competitors カスタマーボックス / CustomerBox and Zen.
PUBLIC_POSTS = {
    "ja": [
        "#ツナグ で問い合わせ対応がすごく楽になった！チーム全員おすすめ",
        "ﾂﾅｸﾞのサポート、返信が早くて助かりました",
        "ツナグのアプリ、今日ずっとエラーで使えない。最悪…",
        "カスタマーボックスからツナグに乗り換えました #ツナグ",
        "#カスタマーボックス の新機能、便利そう",
        "カスタマーボックス高すぎる。解約したい #カスタマーボックス",
        "Zenの料金プラン変わったらしい",
        "週末のカフェ巡り☕ #ツナグ店 #東京カフェ",
    ],
    "en": [
        "Switched our support team to #Tsunagu last month, love the shared inbox",
        "Tsunagu app keeps crashing today, terrible experience #tsunagu",
        "Trying #CustomerBox for our store, so far so good",
        "We moved from Zendesk to Zen and never looked back",
    ],
}
NAMES = {
    "ja": ["佐々木 陽子", "伊藤 健", "小林 さくら", "加藤 大輔", "吉田 真理"],
    "en": ["Emma Clark", "Liam Wong", "Olivia Reed"],
}


def graph_error(
    message: str,
    code: int,
    *,
    status: int = 400,
    subcode: int | None = None,
    kind: str = "OAuthException",
    headers: dict | None = None,
) -> Response:
    error = {"message": message, "type": kind, "code": code, "fbtrace_id": secrets.token_urlsafe(8)}
    if subcode is not None:
        error["error_subcode"] = subcode
    return Response(status, {"error": error}, headers=headers or {})


class MetaSimulator(MetaPublishing, SimulatorPart):
    name = "meta"
    environment = ("META_APP_SECRET", "META_APP_ID", "META_VERIFY_TOKEN")

    def __init__(self, sim):
        super().__init__(sim)
        self.reset()
        self.provision()

    def reset(self) -> None:
        self.pages: dict[str, dict] = {}
        self.page_tokens: dict[str, str] = {}  # token -> page id
        self.user_tokens: set[str] = set()
        self.codes: set[str] = set()
        self.last_customer: dict[tuple[str, str], float] = {}  # (account id, psid) -> time of last customer message
        self.private_replied: set[str] = set()
        self.sent: list[dict] = []
        self.names: dict[str, str] = {}  # PSID/IGSID -> the customer's name, for the User Profile API
        self.subscriptions: dict[str, str] = {}
        self.failures: list[Response] = []
        self.pending: list = []
        self.async_receipts = getattr(self, "async_receipts", True)
        self.budget: int | None = None
        self.regain_minutes = 1
        self.public: list[dict] = []  # public posts of strangers, newest last (social listening)
        self.hashtag_ids: dict[str, str] = {}  # hashtag name -> its (global, static) id
        self.hashtags_queried: dict[str, dict[str, float]] = {}  # ig user id -> {hashtag: first query time}
        self.hashtag_limit = 30  # unique hashtags per account within a rolling 7 days
        self.reset_publishing()

    # --- operator / tests -----------------------------------------------------------------------------------------
    def provision(self, pages: list[dict] | None = None) -> dict:
        with self.sim.lock:
            for page in pages or [DEMO_PAGE]:
                if page["id"] not in self.pages:
                    token = "EAAG" + secrets.token_urlsafe(24)
                    self.pages[page["id"]] = {**page, "access_token": token}
                    self.page_tokens[token] = page["id"]
            user_token = "EAAU" + secrets.token_urlsafe(24)
            self.user_tokens.add(user_token)
            return {"pages": list(self.pages.values()), "user_token": user_token}

    def register_customer(self, account_id: str, psid: str) -> None:
        with self.sim.lock:
            self.last_customer[(account_id, psid)] = time.time()

    def fail_next(self, code: int, message: str, *, status: int = 400, subcode: int | None = None) -> None:
        self.failures.append(graph_error(message, code, status=status, subcode=subcode))

    def set_rate_limit(self, remaining_calls: int, regain_minutes: int = 1) -> None:
        self.budget, self.regain_minutes = remaining_calls, regain_minutes

    def _deliver(self, obj: str, entries: list[dict], *, duplicates: int = 1, bad_signature: bool = False) -> int:
        body = json.dumps({"object": obj, "entry": entries}).encode()  # ensure_ascii: \\u escapes like Meta
        secret = self.sim.config.get("meta_app_secret", "")
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": "sha256=" + ("0" * 64 if bad_signature else digest),
        }
        status = 0
        for _ in range(duplicates):
            status = self.sim.deliver("/webhooks/meta/", body, headers, attempts=1 if bad_signature else 3)
        return status

    def customer_message(
        self,
        page_id: str,
        psid: str,
        text: str,
        *,
        name: str = "",
        platform: str = "facebook",
        attachments: list[dict] | None = None,
        reply_to: str | None = None,
        duplicates: int = 1,
        bad_signature: bool = False,
    ) -> str:
        mid = "m_" + secrets.token_urlsafe(16)
        now = int(time.time() * 1000)
        message: dict = {"mid": mid, "text": text}
        if attachments:
            message["attachments"] = attachments
        if reply_to:
            message["reply_to"] = {"mid": reply_to}
        account = page_id
        if platform == "instagram":
            account = self.pages.get(page_id, {}).get("ig_id", page_id)
        event = {"sender": {"id": psid}, "recipient": {"id": account}, "timestamp": now, "message": message}
        self.register_customer(account, psid)
        self.names[psid] = name
        self._deliver(
            "instagram" if platform == "instagram" else "page",
            [{"id": account, "time": now, "messaging": [event]}],
            duplicates=duplicates,
            bad_signature=bad_signature,
        )
        return mid

    def comment(
        self,
        page_id: str,
        post_id: str,
        from_id: str,
        from_name: str,
        text: str,
        *,
        parent_id: str | None = None,
        verb: str = "add",
        comment_id: str | None = None,
    ) -> str:
        comment_id = comment_id or f"{post_id.split('_')[-1]}_{random.randint(10**15, 10**16 - 1)}"
        now = int(time.time())
        value = {
            "from": {"id": from_id, "name": from_name},
            "post_id": post_id,
            "comment_id": comment_id,
            "created_time": now,
            "item": "comment",
            "parent_id": parent_id or post_id,
            "verb": verb,
            "message": text,
        }
        self.register_customer(page_id, from_id)
        self._deliver("page", [{"id": page_id, "time": now, "changes": [{"field": "feed", "value": value}]}])
        return comment_id

    def public_post(
        self,
        text: str,
        *,
        platform: str = "instagram",
        author: str = "",
        tagged: str = "",
        likes: int = 0,
        comments: int = 0,
        shares: int = 0,
        at: float | None = None,
    ) -> str:
        """A stranger posts publicly: on Instagram its #hashtags are searchable and `tagged` (an Instagram account
        id) finds it through /tags; on Facebook `tagged` (a page id) finds it through /{page}/tagged."""
        post_id = str(random.randint(10**16, 10**17 - 1))
        if platform == "facebook":
            post_id = f"{random.randint(10**14, 10**15 - 1)}_{post_id}"
        tags = [t.casefold() for t in re.findall(r"#(\w+)", text)]
        with self.sim.lock:
            self.public.append(
                {
                    "platform": platform,
                    "id": post_id,
                    "text": text,
                    "time": at if at is not None else time.time(),
                    "author": author or "user_" + secrets.token_hex(3),
                    "tagged": tagged,
                    "hashtags": tags,
                    "likes": likes,
                    "comments": comments,
                    "shares": shares,
                }
            )
        return post_id

    def seed_public(self, *, days: int = 7, per_day: int = 6, seed: int = 17) -> int:
        """Demo: a week of public posts about the demo brand and its competitors, tagging the demo accounts now and
        then, Japanese and English."""
        rng = random.Random(seed)
        page = next(iter(self.pages.values()))
        now = time.time()
        count = 0
        for day in range(days, -1, -1):
            for _ in range(per_day):
                lang = "ja" if rng.random() < 0.7 else "en"
                text = rng.choice(PUBLIC_POSTS[lang])
                platform = "instagram" if rng.random() < 0.75 else "facebook"
                tagged = ""
                if rng.random() < 0.4:
                    tagged = page["ig_id"] if platform == "instagram" else page["id"]
                elif platform == "facebook":
                    tagged = page["id"]  # Facebook finds only posts tagging the page
                self.public_post(
                    text,
                    platform=platform,
                    author=rng.choice(["hana_", "kenji.", "mika", "taro", "emma", "liam"]) + str(rng.randint(1, 99)),
                    tagged=tagged,
                    likes=rng.randint(0, 120),
                    comments=rng.randint(0, 15),
                    shares=rng.randint(0, 5) if platform == "facebook" else 0,
                    at=now - day * 86400 - rng.randint(0, 86000),
                )
                count += 1
        return count

    def trickle(self, text: str, lang: str) -> None:
        page = next(iter(self.pages.values()))
        name = random.choice(NAMES[lang])
        psid = "PSID-" + hashlib.sha256(name.encode()).hexdigest()[:12]
        choice = random.random()
        if choice < 0.15:  # a stranger posts about the brand (social listening picks it up)
            self.public_post(random.choice(PUBLIC_POSTS[lang]), author=name.split()[0].lower(), tagged=page["ig_id"])
            return
        if choice < 0.5:
            self.customer_message(page["id"], psid, text, name=name)
        elif choice < 0.8:
            self.customer_message(page["id"], "IG" + psid, text, name=name, platform="instagram")
        else:
            self.comment(page["id"], f"{page['id']}_1220000000000001", psid, name, text)

    def state(self) -> dict:
        with self.sim.lock:
            return {
                "sent": list(self.sent),
                "subscriptions": dict(self.subscriptions),
                "pages": [{k: v for k, v in p.items() if k != "access_token"} for p in self.pages.values()],
                "posts": [dict(p) for p in self.posts],
            }

    def operator_html(self) -> str:
        options = "".join(
            f'<option value="{html.escape(p["id"])}">{html.escape(p["name"])}</option>' for p in self.pages.values()
        )
        return (
            '<form method="post" action="/_sim/meta/messages"><label>Page <select name="page_id">'
            + options
            + "</select></label>"
            '<label>Where <select name="platform"><option value="facebook">Messenger</option>'
            '<option value="instagram">Instagram DM</option><option value="comment">Facebook comment</option>'
            "</select></label>"
            '<label>Customer name <input name="name" value="山田 花子"></label>'
            '<label>Text <textarea name="text">注文した商品がまだ届いていません。</textarea></label>'
            "<button>Send as customer</button></form>"
            '<form method="post" action="/_sim/meta/public"><label>Public post '
            '<select name="platform"><option value="instagram">Instagram</option>'
            '<option value="facebook">Facebook</option></select></label>'
            '<label>Author <input name="author" value="hana_77"></label>'
            '<label>Text <textarea name="text">#ツナグ のサポート最高！</textarea></label>'
            "<button>Post publicly (tags the page)</button></form>" + self.published_html()
        )

    # --- routes ---------------------------------------------------------------------------------------------------
    def routes(self):
        return [
            ("POST", r"/_sim/meta/provision", lambda r, m: Response(body=self.provision(r.json().get("pages")))),
            ("POST", r"/_sim/meta/customers", self._op_customers),
            ("POST", r"/_sim/meta/messages", self._op_message),
            ("POST", r"/_sim/meta/comments", self._op_comment),
            ("GET", V + r"/dialog/oauth", self._dialog),
            ("GET", V + r"/dialog/oauth/approve", self._approve),
            ("GET", V + r"/oauth/access_token", self._token),
            ("POST", V + r"/oauth/access_token", self._token),
            ("GET", V + r"/me/accounts", self._accounts),
            ("POST", V + r"/(?P<page>\d+)/subscribed_apps", self._subscribe),
            ("POST", V + r"/(?P<page>\d+)/messages", self._send),
            ("POST", V + r"/(?P<comment>[\w]+_[\w]+|\d+)/(?P<kind>comments|replies)", self._comment_reply),
            ("GET", V + r"/ig_hashtag_search", self._hashtag_search),
            ("GET", V + r"/(?P<tag>\d+)/recent_media", self._recent_media),
            ("GET", V + r"/(?P<user>\d+)/tags", self._ig_tags),
            ("GET", V + r"/(?P<page>\d+)/tagged", self._page_tagged),
            ("POST", r"/_sim/meta/public", self._op_public),
            ("POST", r"/_sim/meta/public/seed", self._op_public_seed),
            *self.publishing_routes(),
            ("GET", V + r"/?", self._profiles),
            ("GET", V + r"/(?P<user>[\w-]+)", self._profile),
        ]

    # --- social listening ---------------------------------------------------------------------------------------
    def _hashtag_search(self, r: Request, m) -> Response:
        """`GET /ig_hashtag_search?user_id=&q=` → {"data": [{"id"}]}; 30 unique hashtags per account per 7 days."""
        refused = self._gate(r)
        if refused:
            return refused
        user_id, tag = r.arg("user_id"), r.arg("q").removeprefix("#").casefold()
        if not user_id or not tag:
            return graph_error("(#100) The parameters user_id and q are required", 100)
        with self.sim.lock:
            queried = self.hashtags_queried.setdefault(user_id, {})
            now = time.time()
            recent = {t for t, at in queried.items() if now - at < 7 * 86400}
            if tag not in recent and len(recent) >= self.hashtag_limit:
                return graph_error("(#100) You have reached the limit of 30 unique hashtags in 7 days", 100)
            queried.setdefault(tag, now)
            tag_id = self.hashtag_ids.setdefault(tag, str(17840000000000000 + len(self.hashtag_ids) + 1))
        return Response(body={"data": [{"id": tag_id}]})

    def _page_of(self, r: Request, posts: list[dict], render, *, limit: int = 25) -> Response:
        """Newest first, `limit` a page; like recent_media, `after` is an offset here (Meta's is opaque)."""
        posts = sorted(posts, key=lambda p: p["time"], reverse=True)
        try:
            start = int(r.arg("after") or 0)
            limit = max(1, min(int(r.arg("limit") or limit), 50))
        except ValueError:
            return graph_error("(#100) Invalid cursor", 100)
        page = posts[start : start + limit]
        body: dict = {"data": [render(p) for p in page]}
        if start + limit < len(posts):
            body["paging"] = {
                "cursors": {"after": str(start + limit)},
                "next": f"{self.sim.base_url}{r.path}?after={start + limit}",
            }
        return Response(body=body)

    @staticmethod
    def _iso(moment: float) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(moment))

    def _ig_media(self, post: dict, *, username: bool) -> dict:
        body = {
            "id": post["id"],
            "caption": post["text"],
            "media_type": "IMAGE",
            "permalink": f"https://www.instagram.com/p/{post['id'][-11:]}/",
            "timestamp": self._iso(post["time"]),
            "like_count": post["likes"],
            "comments_count": post["comments"],
        }
        if username:  # hashtag media carry no username (documented)
            body["username"] = post["author"]
        return body

    def _recent_media(self, r: Request, m) -> Response:
        refused = self._gate(r)
        if refused:
            return refused
        names = [n for n, i in self.hashtag_ids.items() if i == m["tag"]]
        if not names or not r.arg("user_id"):
            return graph_error("(#100) Invalid hashtag id or missing user_id", 100)
        day_ago = time.time() - 86400  # recent_media: the last 24 hours
        posts = [
            p for p in self.public if p["platform"] == "instagram" and names[0] in p["hashtags"] and p["time"] > day_ago
        ]
        return self._page_of(r, posts, lambda p: self._ig_media(p, username=False), limit=50)

    def _ig_tags(self, r: Request, m) -> Response:
        refused = self._gate(r)
        if refused:
            return refused
        posts = [p for p in self.public if p["platform"] == "instagram" and p["tagged"] == m["user"]]
        return self._page_of(r, posts, lambda p: self._ig_media(p, username=True))

    def _page_tagged(self, r: Request, m) -> Response:
        refused = self._gate(r)
        if refused:
            return refused
        posts = [p for p in self.public if p["platform"] == "facebook" and p["tagged"] == m["page"]]

        def render(post: dict) -> dict:
            # `from` only for the page's own posts (documented): strangers' posts come without an author.
            return {
                "id": post["id"],
                "message": post["text"],
                "created_time": self._iso(post["time"]),
                "permalink_url": f"https://www.facebook.com/{post['id'].replace('_', '/posts/')}",
                "shares": {"count": post["shares"]},
                "reactions": {"data": [], "summary": {"total_count": post["likes"]}},
                "comments": {"data": [], "summary": {"total_count": post["comments"]}},
            }

        return self._page_of(r, posts, render)

    def _op_public_seed(self, r: Request, m) -> Response:
        """Demo: a week of public posts, once (the simulator keeps them while it runs)."""
        if self.public:
            return Response(body={"seeded": 0})
        return Response(body={"seeded": self.seed_public()})

    def _op_public(self, r: Request, m) -> Response:
        p = self._params(r)
        page = self.pages.get(p.get("page_id", "")) or next(iter(self.pages.values()))
        platform = p.get("platform", "instagram")
        tagged = (page["ig_id"] if platform == "instagram" else page["id"]) if p.get("tagged", "1") == "1" else ""
        post_id = self.public_post(p.get("text", ""), platform=platform, author=p.get("author", ""), tagged=tagged)
        return Response(body={"id": post_id})

    def _business_discovery(self, r: Request, m) -> Response:
        """`GET /{ig-user-id}?fields=business_discovery.username(x){followers_count}`: another account's public
        counts. The simulator's anonymous posters (user_…) are personal accounts, which Business Discovery refuses."""
        refused = self._gate(r)
        if refused:
            return refused
        found = re.match(r"business_discovery\.username\(([^)]+)\)", r.arg("fields"))
        username = found.group(1) if found else ""
        if not username or username.startswith("user_"):
            return graph_error("(#110) Invalid user id", 110)
        followers = 200 + int(hashlib.sha256(username.encode()).hexdigest()[:6], 16) % 20000
        return Response(
            body={"business_discovery": {"followers_count": followers, "id": "1784" + str(followers)}, "id": m["user"]}
        )

    def _profile(self, r: Request, m) -> Response:
        """The User Profile API: a customer's name by PSID/IGSID, for the page that talks to them."""
        if r.arg("fields").startswith("business_discovery."):
            return self._business_discovery(r, m)
        if r.bearer() not in self.page_tokens:
            return graph_error("Invalid OAuth access token - Cannot parse access token", 190, status=401)
        names = self.names
        if m["user"] not in names:
            return graph_error(
                f"Unsupported get request. Object with ID '{m['user']}' does not exist, cannot be loaded due to "
                "missing permissions, or does not support this operation.",
                100,
                subcode=33,
            )
        return Response(body=self._profile_body(m["user"], set(r.arg("fields", "name").split(","))))

    def _profiles(self, r: Request, m) -> Response:
        """Graph's multiple-id read, `GET /?ids=a,b&fields=…` → {id: object}; one id that cannot be read fails the
        whole request, as Graph does."""
        if r.bearer() not in self.page_tokens:
            return graph_error("Invalid OAuth access token - Cannot parse access token", 190, status=401)
        ids = [i for i in r.arg("ids", "").split(",") if i]
        if not ids:
            return graph_error("(#100) Missing the ids parameter", 100)
        if len(ids) > 50:
            return graph_error(f"(#100) Too many IDs. Maximum: 50. Provided: {len(ids)}.", 100)
        unknown = [i for i in ids if i not in self.names]
        if unknown:
            return graph_error(f"(#803) Some of the aliases you requested do not exist: {','.join(unknown)}", 803)
        wanted = set(r.arg("fields", "name").split(","))
        return Response(body={i: self._profile_body(i, wanted) for i in ids})

    def _profile_body(self, user: str, wanted: set[str]) -> dict:
        name = self.names[user] or "Messenger User"
        family, _space, given = name.partition(" ")
        body = {"id": user, "name": name}  # no profile_pic: the simulator serves no pictures
        if "first_name" in wanted or "last_name" in wanted:
            body |= {"first_name": given or family, "last_name": family if given else ""}
        if "username" in wanted:
            body["username"] = "ig_" + user.lower().replace("-", "_")
        return {k: v for k, v in body.items() if k in wanted | {"id"}}

    def _params(self, r: Request) -> dict:
        data = r.json() if "json" in r.headers.get("content-type", "") else r.form()
        return {k: v[0] for k, v in r.query.items()} | data

    def _op_customers(self, r: Request, m) -> Response:
        for c in r.json().get("customers", []):
            self.register_customer(str(c["account_id"]), str(c["psid"]))
            if c.get("name"):
                self.names[str(c["psid"])] = c["name"]
        return Response(body={"ok": True})

    def _op_message(self, r: Request, m) -> Response:
        p = self._params(r)
        page = p.get("page_id") or next(iter(self.pages))
        name = p.get("name") or "山田 花子"
        psid = p.get("psid") or "PSID-" + hashlib.sha256(name.encode()).hexdigest()[:12]
        if p.get("platform") == "comment":
            return Response(body={"id": self.comment(page, f"{page}_1220000000000001", psid, name, p.get("text", ""))})
        mid = self.customer_message(
            page,
            psid,
            p.get("text", ""),
            name=name,
            platform=p.get("platform", "facebook"),
            duplicates=int(p.get("duplicates") or 1),
        )
        return Response(body={"mid": mid})

    def _op_comment(self, r: Request, m) -> Response:
        p = self._params(r)
        return Response(
            body={
                "id": self.comment(p["page_id"], p["post_id"], p["from_id"], p.get("from_name", ""), p.get("text", ""))
            }
        )

    def _dialog(self, r: Request, m) -> Response:
        if r.arg("client_id") != self.sim.config.get("meta_app_id"):
            return Response(400, "<h1>Invalid App ID</h1>")
        code = secrets.token_urlsafe(16)
        self.codes.add(code)
        target = r.arg("redirect_uri") + "?" + urlencode({"code": code, "state": r.arg("state")})
        denied = (
            r.arg("redirect_uri")
            + "?"
            + urlencode(
                {
                    "error": "access_denied",
                    "error_reason": "user_denied",
                    "error_description": "Permissions error",
                    "state": r.arg("state"),
                }
            )
        )
        return Response(
            body=f"<!doctype html><meta charset=utf-8><title>Log in with Facebook</title>"
            f"<p>Tsunagu wants to manage your pages.</p>"
            f'<a id="continue" href="{html.escape(target)}">Continue as Demo User</a> '
            f'<a id="cancel" href="{html.escape(denied)}">Cancel</a>'
        )

    def _approve(self, r: Request, m) -> Response:
        return self._dialog(r, m)

    def _token(self, r: Request, m) -> Response:
        p = self._params(r)
        if p.get("client_secret") != self.sim.config.get("meta_app_secret") or p.get(
            "client_id"
        ) != self.sim.config.get("meta_app_id"):
            return graph_error("Error validating client secret.", 1, subcode=None)
        if p.get("grant_type") == "fb_exchange_token":
            token = "EAAU" + secrets.token_urlsafe(24)
            self.user_tokens.add(token)
            return Response(body={"access_token": token, "token_type": "bearer", "expires_in": 5183944})
        if p.get("code") not in self.codes:
            return graph_error("This authorization code has been used.", 100, subcode=36009)
        self.codes.discard(p["code"])
        token = "EAAU" + secrets.token_urlsafe(24)
        self.user_tokens.add(token)
        return Response(body={"access_token": token, "token_type": "bearer", "expires_in": 5183944})

    def _accounts(self, r: Request, m) -> Response:
        if r.bearer() not in self.user_tokens:
            return graph_error("Invalid OAuth access token - Cannot parse access token", 190)
        data = [
            {
                "id": p["id"],
                "name": p["name"],
                "access_token": p["access_token"],
                "instagram_business_account": {"id": p["ig_id"], "username": p["ig_username"]},
            }
            for p in self.pages.values()
        ]
        return Response(body={"data": data, "paging": {"cursors": {"before": "QVFI", "after": "QVFI"}}})

    def _page_for_token(self, r: Request) -> str | None:
        return self.page_tokens.get(r.bearer())

    def _gate(self, r: Request) -> Response | None:
        if self.failures:
            return self.failures.pop(0)
        if self.budget is not None:
            if self.budget <= 0:
                usage = json.dumps(
                    {
                        "0": [
                            {
                                "type": "messenger",
                                "call_count": 100,
                                "total_cputime": 10,
                                "total_time": 10,
                                "estimated_time_to_regain_access": self.regain_minutes,
                            }
                        ]
                    }
                )
                return graph_error(
                    "Calls to this api have exceeded the rate limit.", 613, headers={"X-Business-Use-Case-Usage": usage}
                )
            self.budget -= 1
        if self._page_for_token(r) is None:
            return graph_error("Error validating access token: The session has been invalidated.", 190, subcode=460)
        return None

    def _subscribe(self, r: Request, m) -> Response:
        refused = self._gate(r)
        if refused:
            return refused
        self.subscriptions[m["page"]] = self._params(r).get("subscribed_fields", "")
        return Response(body={"success": True})

    def _send(self, r: Request, m) -> Response:
        refused = self._gate(r)
        if refused:
            return refused
        page_id = m["page"]
        if self._page_for_token(r) != page_id:
            return graph_error("(#200) The page token does not belong to this page", 200)
        p = self._params(r)
        recipient = p.get("recipient")
        recipient = json.loads(recipient) if isinstance(recipient, str) else (recipient or {})
        message = p.get("message")
        message = json.loads(message) if isinstance(message, str) else (message or {})
        text = message.get("text", "")
        if len(text) > 2000:  # "UTF-8 and has a 2000 character limit"
            return graph_error("(#100) Length of param message[text] must be less than or equal to 2000", 100)
        page = self.pages[page_id]
        mid = "m_" + secrets.token_urlsafe(16)
        if "comment_id" in recipient:
            if recipient["comment_id"] in self.private_replied:
                return graph_error("(#10900) Activity already replied to", 10900)
            self.private_replied.add(recipient["comment_id"])
            self.sent.append(
                {
                    "kind": "private_reply",
                    "page": page_id,
                    "comment_id": recipient["comment_id"],
                    "text": text,
                    "mid": mid,
                }
            )
            return Response(body={"recipient_id": "PSID-" + recipient["comment_id"][-6:], "message_id": mid})
        psid = str(recipient.get("id", ""))
        account = page["ig_id"] if psid.startswith("IG") else page_id
        last = self.last_customer.get((account, psid)) or self.last_customer.get((page_id, psid))
        if last is None:
            return graph_error("(#100) No matching user found", 100, subcode=2018001)
        if time.time() - last > 24 * 3600:
            return graph_error("(#10) This message is sent outside of allowed window.", 10, subcode=2018278)
        with self.sim.lock:
            self.sent.append(
                {
                    "kind": "message",
                    "page": page_id,
                    "recipient": psid,
                    "text": text,
                    "mid": mid,
                    "metadata": message.get("metadata", ""),
                    "attachment": message.get("attachment"),
                }
            )
        # Like Meta: the echo (with our metadata), then the delivery receipt, as webhooks.
        now = int(time.time() * 1000)
        obj = "instagram" if account != page_id else "page"
        echo = {
            "sender": {"id": account},
            "recipient": {"id": psid},
            "timestamp": now,
            "message": {"mid": mid, "is_echo": True, "text": text, "metadata": message.get("metadata", "")},
        }
        delivery = {
            "sender": {"id": psid},
            "recipient": {"id": account},
            "timestamp": now + 1,
            "delivery": {"mids": [mid], "watermark": now},
        }
        self._later(lambda: self._deliver(obj, [{"id": account, "time": now, "messaging": [echo, delivery]}]))
        return Response(body={"recipient_id": psid, "message_id": mid})

    def _later(self, deliver) -> None:
        """Meta sends echoes and receipts after answering the send. Tests that deliver through Django's test
        client (one thread, one transaction) set `async_receipts = False` and call `flush_receipts()`."""
        if self.async_receipts:
            threading.Timer(0.05, deliver).start()
        else:
            with self.sim.lock:
                self.pending.append(deliver)

    def flush_receipts(self) -> int:
        with self.sim.lock:
            pending, self.pending = self.pending, []
        for deliver in pending:
            deliver()
        return len(pending)

    def _comment_reply(self, r: Request, m) -> Response:
        refused = self._gate(r)
        if refused:
            return refused
        text = self._params(r).get("message", "")
        new_id = f"{m['comment'].split('_')[0]}_{random.randint(10**15, 10**16 - 1)}"
        self.sent.append({"kind": "comment_reply", "comment_id": m["comment"], "text": text, "id": new_id})
        return Response(body={"id": new_id})
