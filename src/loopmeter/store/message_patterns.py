"""How hosts word the commit messages that land or revert work, written once (docs/metrics.md
"Units of work" and "Validation"): the change derivation (store/changes.py) and the legibility
scorecard (legibility/history.py) read messages with these same patterns."""

from __future__ import annotations

import re

#: GitHub's merge button: `Merge pull request #N from owner/branch` (number, branch).
PR_MERGE = re.compile(r"^Merge pull request #(\d+) from (\S+)")
#: GitLab's merge commit names its merge request in the body: `See merge request group/project!N`.
GITLAB_MR = re.compile(r"See merge request (\S+)!(\d+)")
#: `git merge` of a local or remote-tracking branch.
MERGE_BRANCH = re.compile(r"^Merge (?:remote-tracking )?branch '([^']+)'")
#: A squash merge's subject ends in `(#N)`.
SQUASH = re.compile(r"\(#(\d+)\)\s*$")
#: `git revert` names the reverted commit (full or abbreviated sha) in the body.
REVERTS_SHA = re.compile(r"This reverts commit ([0-9a-f]{7,64})", re.I)
#: GitHub's revert button makes `Revert "<subject>"` (squashed: `... (#M)`) with `Reverts owner/repo#N`.
REVERT_SUBJECT = re.compile(r'^Revert "(.+)"(?:\s*\(#\d+\))?\s*$')
REVERTS_PR = re.compile(r"^Reverts [\w.-]+/[\w.-]+#(\d+)\s*$", re.M)


def is_revert(message: str) -> bool:
    """The message says it reverts something, in any of the ways the change derivation recognises."""
    return bool(REVERTS_SHA.search(message) or REVERTS_PR.search(message)
                or REVERT_SUBJECT.match(message.split("\n", 1)[0]))
