"""Event payloads for the quality benchmark: what webhooks and event logs look like.

Two generated families, from a fixed seed, modelled on a code-hosting
service's event stream and its pull-request webhook:

- :func:`make_events`: activity events (pushes, issues, comments, pull
  requests, releases, stars, branch creations) of 15-50 leaves. Every event
  has large integer ids (an 11-digit event id that grows with time, 6-8 digit
  user ids, 8-9 digit repository ids, 9-10 digit issue and comment ids) and
  epoch timestamps in seconds and milliseconds; the actor and repository are
  objects reused across events (a few users and repositories account for most
  of them, and bots push near-identical dependency bumps); commit messages,
  issue bodies and comments are free text of up to 1,500 characters.
- :func:`make_pull_requests`: pull-request webhook payloads of 140-350 leaves:
  the pull request with its author, reviewers, labels and head and base
  branches (each with a full repository object and its owner), the repository
  again and the sender. Most of a payload is shared with the other payloads of
  its repository (the same repository object, its URLs, the same users).

In both, records of one repository and one author are close neighbours: what
tells two of them apart is their ids, timestamps and texts.
"""

from __future__ import annotations

import json
import random
import string
from typing import Any

from workloads import WORDS, description

#: Epoch seconds of the first event (2024-01-01T00:00:00Z).
EPOCH_START = 1_704_067_200
#: Mean seconds between two events of the stream.
EVENT_SPACING = 600

_LANGUAGES = ("Python", "Go", "Rust", "TypeScript", "Java", "C++", "Ruby", "Kotlin", None)
_LICENSES = (
    ("mit", "MIT License", "MIT"),
    ("apache-2.0", "Apache License 2.0", "Apache-2.0"),
    ("gpl-3.0", "GNU General Public License v3.0", "GPL-3.0"),
    ("bsd-3-clause", 'BSD 3-Clause "New" or "Revised" License', "BSD-3-Clause"),
)
_LABELS = (
    ("bug", "d73a4a", "Something isn't working"),
    ("enhancement", "a2eeef", "New feature or request"),
    ("documentation", "0075ca", "Improvements or additions to documentation"),
    ("dependencies", "0366d6", "Pull requests that update a dependency file"),
    ("good first issue", "7057ff", "Good for newcomers"),
    ("performance", "fbca04", "Faster or leaner"),
    ("breaking", "b60205", "Changes a public interface"),
)
_PACKAGES = (
    "requests", "numpy", "pyarrow", "lodash", "express", "serde", "tokio", "pytest",
    "eslint", "webpack", "protobuf", "grpcio", "urllib3", "setuptools", "black", "mypy",
)  # fmt: skip
_MODULES = (
    "parser", "cache", "scheduler", "auth", "storage", "client", "server", "config",
    "logging", "metrics", "router", "encoder", "index", "cli", "docs", "tests",
)  # fmt: skip
_VERBS = ("Fix", "Add", "Refactor", "Remove", "Update", "Speed up", "Document", "Test")
_SUFFIXES = ("", "-py", "-rs", "-js", "-go", "-core", "-cli", "-server", "-sdk")
_HANDLES = (
    "ana", "bo", "chen", "dita", "emre", "fatima", "gus", "hiro", "ines", "jonas", "kofi",
    "lena", "mateo", "nadia", "omar", "priya", "quinn", "rosa", "sven", "tomas", "uma",
    "vik", "wen", "xavi", "yara", "zoe",
)  # fmt: skip
_STYLES = ("dev", "codes", "hq", "io", "labs", "", "x", "42", "99", "-oss")
_EVENT_TYPES = (
    ("PushEvent", 38),
    ("IssueCommentEvent", 18),
    ("IssuesEvent", 12),
    ("PullRequestEvent", 12),
    ("WatchEvent", 10),
    ("CreateEvent", 6),
    ("ReleaseEvent", 4),
)

API = "https://api.example.com"
WEB = "https://example.com"


def _hex(rng: random.Random, n: int = 40) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _node_id(rng: random.Random, prefix: str) -> str:
    return prefix + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(16))


def _user(rng: random.Random, login: str, bot: bool = False) -> dict[str, Any]:
    uid = rng.randrange(10**7, 10**8) if bot else rng.randrange(10**5, 10**8)
    return {
        "login": login,
        "id": uid,
        "node_id": _node_id(rng, "MDQ6VXNlcj"),
        "avatar_url": f"https://avatars.example.com/u/{uid}?v=4",
        "url": f"{API}/users/{login}",
        "html_url": f"{WEB}/{login}",
        "type": "Bot" if bot else "User",
        "site_admin": False,
    }


def _users(rng: random.Random, n: int) -> list[dict[str, Any]]:
    logins: set[str] = set()
    out = []
    while len(out) < n:
        login = f"{rng.choice(_HANDLES)}{rng.choice(_HANDLES)}{rng.choice(_STYLES)}"
        if login not in logins:
            logins.add(login)
            out.append(_user(rng, login))
    out.append(_user(rng, "dependabot[bot]", bot=True))
    out.append(_user(rng, "renovate[bot]", bot=True))
    return out


def _repository(rng: random.Random, owner: dict[str, Any], name: str) -> dict[str, Any]:
    """A repository object: lean (older servers), full, or full with custom properties."""
    full = f"{owner['login']}/{name}"
    created = EPOCH_START - rng.randrange(30 * 86400, 8 * 365 * 86400)
    url = f"{API}/repos/{full}"
    repo = {
        "id": rng.randrange(10**7, 10**9),
        "node_id": _node_id(rng, "MDEwOlJlcG9zaXRvcn"),
        "name": name,
        "full_name": full,
        "private": rng.random() < 0.1,
        "owner": owner,
        "html_url": f"{WEB}/{full}",
        "description": description(rng, rng.randint(30, 160)),
        "fork": rng.random() < 0.15,
        "url": url,
        "created_at": created,
        "updated_at": created + rng.randrange(86400, 400 * 86400),
        "pushed_at": created + rng.randrange(86400, 600 * 86400),
        "default_branch": rng.choice(("main", "main", "master", "develop")),
    }
    style = rng.choices(("lean", "full", "properties"), (35, 45, 20))[0]
    if style == "lean":
        return repo
    license_ = rng.choice(_LICENSES)
    repo |= {
        "issues_url": url + "/issues{/number}",
        "pulls_url": url + "/pulls{/number}",
        "commits_url": url + "/commits{/sha}",
        "git_url": f"git://example.com/{full}.git",
        "ssh_url": f"git@example.com:{full}.git",
        "clone_url": f"{WEB}/{full}.git",
        "homepage": f"https://{name}.example.org" if rng.random() < 0.4 else None,
        "size": int(rng.lognormvariate(8, 1.5)),
        "stargazers_count": int(rng.lognormvariate(4, 2)),
        "watchers_count": int(rng.lognormvariate(3, 1.5)),
        "language": rng.choice(_LANGUAGES),
        "has_issues": True,
        "has_wiki": rng.random() < 0.5,
        "forks_count": int(rng.lognormvariate(2, 1.5)),
        "archived": False,
        "open_issues_count": int(rng.lognormvariate(2.5, 1.2)),
        "license": {
            "key": license_[0],
            "name": license_[1],
            "spdx_id": license_[2],
            "url": f"{API}/licenses/{license_[0]}",
        },
        "topics": rng.sample(_MODULES, rng.randint(0, 8)),
        "visibility": "public",
    }
    if style == "properties":
        # Organisation-defined properties: teams, owners, cost centres, review rules.
        repo["custom_properties"] = {
            f"{rng.choice(_MODULES)}_{k}": rng.choice(
                (rng.choice(WORDS), rng.randint(1, 10**4), rng.random() < 0.5)
            )
            for k in range(rng.randint(3, 20))
        }
    return repo


def _repositories(rng: random.Random, users: list[dict[str, Any]], n: int) -> list[dict]:
    names: set[str] = set()
    out = []
    while len(out) < n:
        name = f"{rng.choice(_MODULES)}{rng.choice(_SUFFIXES)}"
        owner = rng.choice(users[: len(users) // 3])
        if (owner["login"], name) not in names:
            names.add((owner["login"], name))
            out.append(_repository(rng, owner, name))
    return out


def _short_repo(repo: dict[str, Any]) -> dict[str, Any]:
    """The repository as the event stream names it: id, name and API URL."""
    return {"id": repo["id"], "name": repo["full_name"], "url": repo["url"]}


def _short_user(user: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "login", "url", "avatar_url")
    return {k: user[k] for k in keys}


def _commit_message(rng: random.Random, bot: bool) -> str:
    if bot:
        pkg = rng.choice(_PACKAGES)
        a, b, c = rng.randint(0, 9), rng.randint(0, 30), rng.randint(0, 20)
        return (
            f"Bump {pkg} from {a}.{b}.{c} to {a}.{b}.{c + rng.randint(1, 3)}\n\n"
            f"Bumps {pkg} from {a}.{b}.{c} to {a}.{b}.{c + 1}.\n"
            "- [Release notes](https://example.com/releases)\n"
            "- [Changelog](https://example.com/changelog)\n\n"
            "Signed-off-by: dependabot[bot] <support@example.com>"
        )
    head = f"{rng.choice(_VERBS)} {rng.choice(WORDS)} {rng.choice(WORDS)} in {rng.choice(_MODULES)}"
    if rng.random() < 0.5:
        return head
    return head + "\n\n" + description(rng, rng.randint(60, 600))


def _label(repo: dict[str, Any], spec: tuple[str, str, str]) -> dict:
    return {
        "id": 10**9 + (hash_text(repo["full_name"] + spec[0]) % (9 * 10**9)),
        "name": spec[0],
        "color": spec[1],
        "default": spec[0] in ("bug", "enhancement", "documentation"),
        "description": spec[2],
    }


def _team(repo: dict[str, Any], name: str) -> dict[str, Any]:
    org = repo["owner"]["login"]
    return {
        "id": 3_000_000 + hash_text(f"{org}/{name}") % 7_000_000,
        "node_id": f"T_kwDO{hash_text(org + name) % 10**8:08d}",
        "name": f"{name} maintainers",
        "slug": f"{name}-maintainers",
        "description": f"People who review changes to the {name}",
        "privacy": "closed",
        "permission": "push",
        "url": f"{API}/orgs/{org}/teams/{name}-maintainers",
        "html_url": f"{WEB}/orgs/{org}/teams/{name}-maintainers",
    }


def _milestone(s: _Stream, repo: dict[str, Any], now: int) -> dict[str, Any]:
    """One of the few open milestones of ``repo``: the same object in every payload."""
    rng = s.rng
    number = rng.randint(1, 3)
    known = s.milestones.get((repo["id"], number))
    if known is not None:
        return known
    created = now - rng.randrange(86400, 200 * 86400)
    milestone = s.milestones[repo["id"], number] = {
        "id": 9_000_000 + hash_text(f"{repo['id']}/m{number}") % 90_000_000,
        "number": number,
        "title": f"v{rng.randint(0, 4)}.{rng.randint(0, 20)}",
        "description": description(rng, rng.randint(20, 200)),
        "creator": repo["owner"],
        "open_issues": rng.randint(0, 40),
        "closed_issues": rng.randint(0, 120),
        "state": "open",
        "created_at": created,
        "due_on": created + rng.randrange(30 * 86400, 240 * 86400) if rng.random() < 0.6 else None,
        "html_url": f"{repo['html_url']}/milestone/{number}",
    }
    return milestone


def hash_text(text: str) -> int:
    """A stable integer of a text (the same in every process, unlike ``hash``)."""
    value = 0
    for ch in text:
        value = (value * 1_000_003 + ord(ch)) % (2**61 - 1)
    return value


class _Stream:
    """Shared state of a generated event stream: users, repositories and counters."""

    def __init__(self, rng: random.Random, n_users: int, n_repos: int) -> None:
        self.rng = rng
        self.users = _users(rng, n_users)
        self.bots = self.users[-2:]
        self.repos = _repositories(rng, self.users, n_repos)
        # Heavy tails: a few users and repositories account for most events.
        self.user_weights = [1.0 / (i + 3) for i in range(len(self.users))]
        self.repo_weights = [1.0 / (i + 2) for i in range(len(self.repos))]
        self.issue_numbers = {r["id"]: rng.randint(1, 400) for r in self.repos}
        #: Issues and pull requests by (repository id, number): later events reuse them.
        self.issues: dict[tuple[int, int], dict[str, Any]] = {}
        self.pulls: dict[tuple[int, int], dict[str, Any]] = {}
        self.milestones: dict[tuple[int, int], dict[str, Any]] = {}
        self.now = EPOCH_START
        self.event_id = 34_000_000_000 + rng.randrange(10**8)

    def tick(self) -> tuple[int, int]:
        """The next event's id and epoch second."""
        rng = self.rng
        self.now += int(rng.expovariate(1.0 / EVENT_SPACING)) + 1
        self.event_id += rng.randint(5, 400)
        return self.event_id, self.now

    def actor(self) -> dict[str, Any]:
        return self.rng.choices(self.users, self.user_weights)[0]

    def repo(self) -> dict[str, Any]:
        return self.rng.choices(self.repos, self.repo_weights)[0]

    def issue_number(self, repo: dict[str, Any]) -> int:
        """An existing issue number of ``repo`` (recent ones more often), or a new one."""
        rng = self.rng
        if rng.random() < 0.3:
            self.issue_numbers[repo["id"]] += 1
            return self.issue_numbers[repo["id"]]
        top = self.issue_numbers[repo["id"]]
        return max(1, top - int(rng.expovariate(0.05)))


def _issue(s: _Stream, repo: dict, number: int, now: int) -> dict[str, Any]:
    """Issue ``number`` of ``repo`` as of ``now``: the same issue in every event that names it."""
    rng = s.rng
    known = s.issues.get((repo["id"], number))
    if known is not None:
        return known | {"updated_at": now, "comments": known["comments"] + rng.randint(0, 2)}
    user = s.actor()
    created = now - rng.randrange(0, 90 * 86400)
    labels = rng.sample(_LABELS, rng.choice((0, 0, 1, 1, 2)))
    issue = s.issues[repo["id"], number] = {
        "id": 1_900_000_000 + hash_text(f"{repo['id']}#{number}") % 900_000_000,
        "number": number,
        "title": f"{rng.choice(_VERBS)} {rng.choice(WORDS)} {rng.choice(WORDS)} "
        f"({rng.choice(_MODULES)})",
        "user": _short_user(user),
        "state": rng.choice(("open", "open", "closed")),
        "labels": [_label(repo, spec) for spec in labels],
        "comments": rng.randint(0, 30),
        "created_at": created,
        "updated_at": now,
        "body": description(rng, rng.randint(120, 1500)),
        "html_url": f"{repo['html_url']}/issues/{number}",
    }
    return issue


def _event(s: _Stream) -> dict[str, Any]:
    rng = s.rng
    kind = rng.choices([k for k, _ in _EVENT_TYPES], [w for _, w in _EVENT_TYPES])[0]
    event_id, now = s.tick()
    repo = s.repo()
    actor = s.actor()
    payload: dict[str, Any]
    if kind == "PushEvent":
        bot = rng.random() < 0.25
        if bot:
            actor = rng.choice(s.bots)
        commits = []
        for _ in range(1 if bot else rng.choice((1, 1, 1, 2, 3, 5))):
            commits.append(
                {
                    "sha": _hex(rng),
                    "author": {
                        "name": actor["login"],
                        "email": f"{actor['login'].replace('[bot]', '')}@users.example.com",
                    },
                    "message": _commit_message(rng, bot),
                    "distinct": True,
                    "url": f"{repo['url']}/commits/{_hex(rng)}",
                }
            )
        branch = repo["default_branch"] if rng.random() < 0.6 else f"{rng.choice(WORDS)}-fix"
        payload = {
            "push_id": 17_000_000_000 + event_id % 10**9,
            "size": len(commits),
            "distinct_size": len(commits),
            "ref": f"refs/heads/{branch}",
            "head": _hex(rng),
            "before": _hex(rng),
            "commits": commits,
        }
    elif kind in ("IssuesEvent", "IssueCommentEvent"):
        number = s.issue_number(repo)
        issue = _issue(s, repo, number, now)
        if kind == "IssuesEvent":
            payload = {
                "action": rng.choice(("opened", "closed", "reopened", "labeled")),
                "issue": issue,
            }
        else:
            payload = {
                "action": "created",
                "issue": issue,
                "comment": {
                    "id": 2_000_000_000 + (event_id * 7) % 10**9,
                    "user": _short_user(actor),
                    "created_at": now,
                    "updated_at": now,
                    "author_association": rng.choice(("OWNER", "MEMBER", "CONTRIBUTOR", "NONE")),
                    "body": description(rng, rng.randint(20, 900)),
                    "html_url": f"{issue['html_url']}#issuecomment-{event_id % 10**9}",
                },
            }
    elif kind == "PullRequestEvent":
        number = s.issue_number(repo)
        payload = {
            "action": rng.choice(("opened", "closed", "synchronize", "reopened")),
            "number": number,
            "pull_request": {
                "id": 1_500_000_000 + hash_text(f"pr{repo['id']}#{number}") % 900_000_000,
                "number": number,
                "state": "open",
                "title": f"{rng.choice(_VERBS)} {rng.choice(WORDS)} {rng.choice(WORDS)}",
                "user": _short_user(actor),
                "body": description(rng, rng.randint(0, 800)) or None,
                "created_at": now - rng.randrange(0, 7 * 86400),
                "updated_at": now,
                "merged": False,
                "commits": rng.randint(1, 12),
                "additions": int(rng.lognormvariate(4, 1.5)),
                "deletions": int(rng.lognormvariate(3, 1.5)),
                "changed_files": rng.randint(1, 40),
                "head": {"ref": f"{rng.choice(WORDS)}-{rng.choice(_MODULES)}", "sha": _hex(rng)},
                "base": {"ref": repo["default_branch"], "sha": _hex(rng)},
            },
        }
    elif kind == "ReleaseEvent":
        major, minor, patch = rng.randint(0, 5), rng.randint(0, 30), rng.randint(0, 20)
        payload = {
            "action": "published",
            "release": {
                "id": 150_000_000 + event_id % 10**8,
                "tag_name": f"v{major}.{minor}.{patch}",
                "name": f"{repo['name']} {major}.{minor}.{patch}",
                "draft": False,
                "prerelease": rng.random() < 0.15,
                "created_at": now - rng.randrange(60, 86400),
                "published_at": now,
                "body": description(rng, rng.randint(100, 1200)),
            },
        }
    elif kind == "CreateEvent":
        payload = {
            "ref": f"{rng.choice(WORDS)}-{rng.choice(_MODULES)}",
            "ref_type": "branch",
            "master_branch": repo["default_branch"],
            "description": repo["description"],
            "pusher_type": "user",
        }
    else:  # WatchEvent
        payload = {"action": "started"}
    return {
        "id": event_id,
        "type": kind,
        "actor": _short_user(actor) | {"display_login": actor["login"]},
        "repo": _short_repo(repo),
        "payload": payload,
        "public": not repo["private"],
        "created_at": now,
        "received_at_ms": now * 1000 + rng.randrange(50, 3000),
    }


def make_events(n: int = 3000, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` activity events of a generated stream (15-50 leaves each), in time order.

    About 400 users and 120 repositories, both heavy-tailed; a quarter of the
    pushes are bots' dependency bumps, near-identical but for versions, ids,
    hashes and times.
    """
    rng = random.Random(f"events:{seed}")
    stream = _Stream(rng, max(n // 8, 20), max(n // 25, 8))
    return [_tree(_event(stream)) for _ in range(n)]


def _pull_request(s: _Stream, repo: dict[str, Any], number: int, now: int) -> dict[str, Any]:
    """Pull request ``number`` of ``repo`` as first seen: later deliveries reuse it."""
    known = s.pulls.get((repo["id"], number))
    if known is not None:
        return known
    rng = s.rng
    author = rng.choice(s.bots) if rng.random() < 0.2 else s.actor()
    # Pull requests from a fork carry the fork as head repository.
    head_repo = repo
    if rng.random() < 0.35:
        head_repo = _repository(rng, author, repo["name"]) | {"fork": True}
    reviewers = [s.actor() for _ in range(rng.choice((0, 0, 1, 1, 2, 3, 5)))]
    branch = f"{rng.choice(WORDS)}-{rng.choice(_MODULES)}"
    url = f"{repo['url']}/pulls/{number}"
    title = (
        _commit_message(rng, True).split("\n")[0]
        if author["type"] == "Bot"
        else f"{rng.choice(_VERBS)} {rng.choice(WORDS)} {rng.choice(WORDS)} "
        f"in {rng.choice(_MODULES)}"
    )
    pr = s.pulls[repo["id"], number] = {
        "url": url,
        "id": 1_500_000_000 + hash_text(f"pr{repo['id']}#{number}") % 900_000_000,
        "node_id": _node_id(rng, "PR_kwDO"),
        "html_url": f"{repo['html_url']}/pull/{number}",
        "diff_url": f"{repo['html_url']}/pull/{number}.diff",
        "patch_url": f"{repo['html_url']}/pull/{number}.patch",
        "issue_url": f"{repo['url']}/issues/{number}",
        "number": number,
        "state": "open",
        "locked": False,
        "title": title,
        "user": author,
        "body": description(rng, rng.randint(50, 1500)),
        "created_at": now,
        "updated_at": now,
        "closed_at": None,
        "merged_at": None,
        "merge_commit_sha": None,
        "assignee": reviewers[0] if reviewers else None,
        "requested_reviewers": reviewers,
        "requested_teams": [
            _team(repo, name) for name in rng.sample(_MODULES, rng.choice((0, 0, 1, 2)))
        ],
        "labels": [_label(repo, spec) for spec in rng.sample(_LABELS, rng.choice((0, 1, 2)))],
        "milestone": _milestone(s, repo, now) if rng.random() < 0.5 else None,
        "draft": rng.random() < 0.1,
        "commits_url": url + "/commits",
        "review_comments_url": url + "/comments",
        "head": {
            "label": f"{head_repo['owner']['login']}:{branch}",
            "ref": branch,
            "sha": _hex(rng),
            "user": head_repo["owner"],
            "repo": head_repo,
        },
        "base": {
            "label": f"{repo['owner']['login']}:{repo['default_branch']}",
            "ref": repo["default_branch"],
            "sha": _hex(rng),
            "user": repo["owner"],
            "repo": repo,
        },
        "author_association": rng.choice(("OWNER", "MEMBER", "CONTRIBUTOR", "NONE")),
        "merged": False,
        "mergeable": True,
        "mergeable_state": "clean",
        "comments": 0,
        "review_comments": 0,
        "maintainer_can_modify": rng.random() < 0.5,
        "commits": rng.randint(1, 5),
        "additions": int(rng.lognormvariate(4, 1.5)),
        "deletions": int(rng.lognormvariate(3, 1.5)),
        "changed_files": rng.randint(1, 30),
    }
    return pr


def _pull_request_payload(s: _Stream) -> dict[str, Any]:
    """One webhook delivery: a pull request opened, or a later event of a known one."""
    rng = s.rng
    event_id, now = s.tick()
    repo = s.repo()
    number = s.issue_number(repo)
    known = (repo["id"], number) in s.pulls
    pr = dict(_pull_request(s, repo, number, now))
    action = "opened"
    if known:
        action = rng.choice(("synchronize", "synchronize", "labeled", "review_requested", "closed"))
        pr["updated_at"] = now
        pr["comments"] += rng.randint(0, 3)
        pr["review_comments"] += rng.randint(0, 5)
        if action == "synchronize":
            pr["head"] = pr["head"] | {"sha": _hex(rng)}
            pr["commits"] += rng.randint(1, 3)
            pr["additions"] += int(rng.lognormvariate(2, 1))
            pr["deletions"] += int(rng.lognormvariate(1.5, 1))
            pr["changed_files"] += rng.randint(0, 3)
        elif action == "labeled":
            pr["labels"] = [*pr["labels"], _label(repo, rng.choice(_LABELS))]
        elif action == "review_requested":
            pr["requested_reviewers"] = [*pr["requested_reviewers"], s.actor()]
        else:
            merged = rng.random() < 0.7
            pr |= {
                "state": "closed",
                "closed_at": now,
                "merged": merged,
                "merged_at": now if merged else None,
                "merge_commit_sha": _hex(rng) if merged else None,
                "mergeable": None,
            }
    senders = [pr["user"], *pr["requested_reviewers"]]
    return {
        "action": action,
        "number": number,
        "pull_request": pr,
        "repository": repo,
        "sender": rng.choice(senders),
        "installation": {"id": 40_000_000 + hash_text(repo["owner"]["login"]) % 10**7},
        "delivered_at_ms": now * 1000 + rng.randrange(50, 3000),
        "delivery_id": event_id,
    }


def make_pull_requests(n: int = 1500, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` pull-request webhook payloads (140-350 leaves each), in time order."""
    rng = random.Random(f"pull-requests:{seed}")
    stream = _Stream(rng, max(n // 6, 20), max(n // 20, 8))
    return [_tree(_pull_request_payload(stream)) for _ in range(n)]


def _tree(record: dict[str, Any]) -> dict[str, Any]:
    """The record as parsed JSON would be: no object shared by two places of it or of
    two records, so that a perturbation changes one place only."""
    return json.loads(json.dumps(record))
