"""AI attribution: trailer parsing, each agent's signatures, the false-positive traps, actors, config."""

from __future__ import annotations

import tomllib
from importlib import resources

import pytest

from loopmeter.attribution import Evidence, Matcher, parse_trailers
from loopmeter.errors import ConfigError

HUMAN = ("Alice Example", "alice@example.org")
WEB = ("GitHub", "noreply@github.com")


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher.load()


def commit(m: Matcher, message: str, author=HUMAN, committer=None) -> list[Evidence]:
    committer = committer or author
    return m.match_commit(author_name=author[0], author_email=author[1],
                          committer_name=committer[0], committer_email=committer[1], message=message)


def agents(evs: list[Evidence]) -> set[tuple[str, str]]:
    return {(e.agent, e.evidence) for e in evs}


# ----------------------------------------------------------------------------- parse_trailers


def test_parse_trailers_reads_the_last_paragraph_with_keys_as_written():
    msg = ("Add retry to the HTTP client\n\nRetries idempotent requests up to three times.\n\n"
           "Reviewed-by: Bob Builder <bob@example.com>\nCo-Authored-By: Claude <noreply@anthropic.com>\n")
    assert parse_trailers(msg) == [
        ("Reviewed-by", "Bob Builder <bob@example.com>"),
        ("Co-Authored-By", "Claude <noreply@anthropic.com>"),
    ]


def test_parse_trailers_keeps_every_co_authored_by_in_order():
    msg = ("Fix flaky test\n\nCo-authored-by: Ann <ann@example.com>\n"
           "Co-authored-by: Copilot <175728472+Copilot@users.noreply.github.com>\n"
           "co-authored-by: Ben <ben@example.com>")
    assert parse_trailers(msg) == [
        ("Co-authored-by", "Ann <ann@example.com>"),
        ("Co-authored-by", "Copilot <175728472+Copilot@users.noreply.github.com>"),
        ("co-authored-by", "Ben <ben@example.com>"),
    ]


def test_parse_trailers_ignores_trailer_looking_lines_in_the_middle_of_the_body():
    msg = ("Squash of the review branch (#88)\n\n* Update parser.py\n\n"
           "Co-authored-by: Copilot <175728472+Copilot@users.noreply.github.com>\n\n"
           "* Fix lint\n\nThe old behaviour is kept behind a flag.")
    assert parse_trailers(msg) == []


def test_parse_trailers_finds_the_final_block_of_a_github_squash_merge():
    msg = ("Speed up import (#4021)\n\n* lazy-load plugins\n\n* address review\n\n---------\n\n"
           "Co-authored-by: google-labs-jules[bot] <161369871+google-labs-jules[bot]@users.noreply.github.com>\n"
           "Co-authored-by: Dana <dana@example.com>")
    assert [k for k, _ in parse_trailers(msg)] == ["Co-authored-by", "Co-authored-by"]


def test_parse_trailers_a_single_paragraph_is_the_title_not_trailers():
    assert parse_trailers("Co-authored-by: Claude <noreply@anthropic.com>") == []
    assert parse_trailers("Release: 1.2.3\nSigned-off-by: A <a@example.com>\n") == []
    assert parse_trailers("") == []


def test_parse_trailers_a_prose_last_paragraph_is_not_a_trailer_block():
    msg = "Tidy up\n\nThis change does three things.\nFixes: the crash on start\nand a typo."
    assert parse_trailers(msg) == []


def test_parse_trailers_mixed_block_needs_a_git_recognised_key_and_a_quarter_of_trailers():
    with_sob = ("Backport fix\n\nThis was tested by hand on\nthe staging cluster.\n"
                "Signed-off-by: Alice Example <alice@example.org>")
    assert parse_trailers(with_sob) == [("Signed-off-by", "Alice Example <alice@example.org>")]
    without = ("Backport fix\n\nThis was tested by hand on\nthe staging cluster.\n"
               "Co-authored-by: Claude <noreply@anthropic.com>")
    assert parse_trailers(without) == []
    too_few = "Fix\n\n" + "prose line\n" * 4 + "Signed-off-by: A <a@example.com>"
    assert parse_trailers(too_few) == []


def test_parse_trailers_joins_indented_continuation_lines_and_handles_crlf():
    msg = "Fix\r\n\r\nCo-authored-by: A Very Long\r\n  Name <long@example.com>\r\nAcked-by: Bo <bo@example.com>\r\n\r\n"
    assert parse_trailers(msg) == [
        ("Co-authored-by", "A Very Long Name <long@example.com>"),
        ("Acked-by", "Bo <bo@example.com>"),
    ]


def test_parse_trailers_rejects_keys_with_spaces():
    assert parse_trailers("Fix\n\nCo authored by: X <x@example.com>") == []


# ------------------------------------------------------------------------------ Claude Code


@pytest.mark.parametrize("who", [
    "Claude", "Claude Opus 4.6 (1M context)", "Claude Sonnet 4.5", "Claude Opus 4.1", "Claude Code",
])
def test_claude_code_co_author_trailer_with_any_model_name(matcher, who):
    msg = (f"feat(api): paginate the /users endpoint\n\nAdds cursor-based pagination and tests.\n\n"
           f"Co-Authored-By: {who} <noreply@anthropic.com>\n")
    evs = commit(matcher, msg)
    assert agents(evs) == {("claude-code", "trailer")}
    assert evs[0].signal == f"Co-Authored-By: {who} <noreply@anthropic.com>"
    assert evs[0].confidence == pytest.approx(0.95)


@pytest.mark.parametrize("url", ["https://claude.ai/code", "https://claude.com/claude-code"])
def test_claude_code_generated_with_footer_in_both_url_forms(matcher, url):
    msg = (f"Fix race in cache invalidation\n\n- take the lock before reading\n- add a regression test\n\n"
           f"🤖 Generated with [Claude Code]({url})\n\nCo-Authored-By: Claude <noreply@anthropic.com>")
    evs = commit(matcher, msg)
    assert agents(evs) == {("claude-code", "trailer"), ("claude-code", "footer")}
    footer = next(e for e in evs if e.evidence == "footer")
    assert footer.signal == f"🤖 Generated with [Claude Code]({url})"


def test_claude_code_footer_alone_without_trailer_still_counts(matcher):
    msg = "Bump deps\n\nGenerated with [Claude Code](https://claude.ai/code)"
    assert agents(commit(matcher, msg)) == {("claude-code", "footer")}


@pytest.mark.parametrize("email", [
    "209825114+claude[bot]@users.noreply.github.com",
    "41898282+claude[bot]@users.noreply.github.com",  # claude-code-action runs committing with the Actions id
])
def test_claude_bot_account_as_author_and_committer(matcher, email):
    evs = commit(matcher, "Address review comments on #42", author=("claude[bot]", email))
    assert agents(evs) == {("claude-code", "author"), ("claude-code", "committer")}


def test_claude_code_branch_prefix(matcher):
    assert agents(matcher.match_branch("claude/issue-123-20250611-1542")) == {("claude-code", "branch")}
    assert agents(matcher.match_branch("refs/heads/claude/fix-login-redirect")) == {("claude-code", "branch")}


# ---------------------------------------------------------------------------------- Copilot


def test_copilot_co_author_from_an_accepted_review_suggestion(matcher):
    # Shape of GitHub's "Apply suggestion from code review" commits, e.g. in numpy's history.
    msg = ("Update numpy/_core/tests/test_multiarray.py\n\n"
           "Co-authored-by: Copilot <175728472+Copilot@users.noreply.github.com>")
    evs = commit(matcher, msg, author=("Ralf Example", "12345+ralfex@users.noreply.github.com"), committer=WEB)
    assert agents(evs) == {("copilot", "trailer")}


@pytest.mark.parametrize("author", [
    ("Copilot", "198982749+Copilot@users.noreply.github.com"),
    ("copilot-swe-agent[bot]", "198982749+copilot-swe-agent[bot]@users.noreply.github.com"),
])
def test_copilot_coding_agent_author(matcher, author):
    msg = "Initial plan\n\nAdd input validation to the signup form"
    evs = commit(matcher, msg, author=author, committer=WEB)
    assert agents(evs) == {("copilot", "author")}


def test_copilot_cli_and_vscode_trailers(matcher):
    new = "Fix typo\n\nCo-authored-by: Copilot <223556219+Copilot@users.noreply.github.com>"
    old = "Fix typo\n\nCo-authored-by: Copilot <copilot@github.com>"
    assert agents(commit(matcher, new)) == {("copilot", "trailer")}
    assert agents(commit(matcher, old)) == {("copilot", "trailer")}


def test_copilot_branch_prefix(matcher):
    assert agents(matcher.match_branch("copilot/fix-1234")) == {("copilot", "branch")}


# ------------------------------------------------------------------------------------ Codex


@pytest.mark.parametrize("trailer", [
    "Co-authored-by: Codex <noreply@openai.com>",
    "Co-authored-by: Codex <codex@openai.com>",
    "Co-authored-by: OpenAI Codex <215057067+openai-codex[bot]@users.noreply.github.com>",
])
def test_codex_co_author_trailers(matcher, trailer):
    msg = f"refactor: split the scheduler module\n\nNo behaviour change.\n\n{trailer}"
    assert agents(commit(matcher, msg)) == {("codex", "trailer")}


def test_codex_identity_and_connector_bot_as_author(matcher):
    assert agents(commit(matcher, "Add CSV export", author=("Codex", "codex@openai.com"))) == {
        ("codex", "author"), ("codex", "committer")}
    bot = ("chatgpt-codex-connector[bot]", "199175422+chatgpt-codex-connector[bot]@users.noreply.github.com")
    assert agents(commit(matcher, "Fix null check", author=bot, committer=WEB)) == {("codex", "author")}


def test_codex_branch_prefix(matcher):
    assert agents(matcher.match_branch("origin/codex/add-csv-export")) == {("codex", "branch")}


# ----------------------------------------------------------------------------------- Cursor


def test_cursor_made_with_trailer(matcher):
    msg = "Add dark mode toggle\n\nPersist the choice in localStorage.\n\nMade-with: Cursor"
    evs = commit(matcher, msg)
    assert agents(evs) == {("cursor", "trailer")}
    assert evs[0].signal == "Made-with: Cursor"


def test_cursor_agent_address_as_co_author_and_author(matcher):
    msg = ("[Bugfix] Fix kernel path for flat qkvz layouts (#53623)\n\n"
           "Signed-off-by: Mikko Example <mikko@example.com>\nCo-authored-by: Cursor <cursoragent@cursor.com>")
    assert agents(commit(matcher, msg)) == {("cursor", "trailer")}
    evs = commit(matcher, "Implement export", author=("Cursor Agent", "cursoragent@cursor.com"))
    assert agents(evs) == {("cursor", "author"), ("cursor", "committer")}


def test_cursor_bot_account_and_cloud_agent_branch(matcher):
    bot = ("cursor[bot]", "206951365+cursor[bot]@users.noreply.github.com")
    assert agents(commit(matcher, "Fix: guard against empty token", author=bot, committer=WEB)) == {
        ("cursor", "author")}
    assert agents(matcher.match_branch("cursor/p1-06-expanded-view-9f65")) == {("cursor", "branch")}


# ------------------------------------------------------------------------------------ Devin


def test_devin_co_author_and_generated_with_footer(matcher):
    msg = ("fix(ci): pin node to 20 in the release workflow\n\nGenerated with [Devin](https://devin.ai)\n\n"
           "Co-Authored-By: Devin AI <158243242+devin-ai-integration[bot]@users.noreply.github.com>")
    assert agents(commit(matcher, msg)) == {("devin", "trailer"), ("devin", "footer")}


def test_devin_bot_author_and_branch(matcher):
    bot = ("devin-ai-integration[bot]", "158243242+devin-ai-integration[bot]@users.noreply.github.com")
    assert agents(commit(matcher, "Add notifications system", author=bot)) == {
        ("devin", "author"), ("devin", "committer")}
    assert agents(matcher.match_branch("devin/1762240276-mobile-app-v0")) == {("devin", "branch")}


# ------------------------------------------------------------------------------------ Aider


def test_aider_name_suffix_on_author_and_committer(matcher):
    who = ("Paul Example (aider)", "paul@example.com")
    evs = commit(matcher, "feat: Add --json flag to the stats command", author=who)
    assert agents(evs) == {("aider", "author"), ("aider", "committer")}
    only_committer = commit(matcher, "Fix parser", author=("Paul Example", "paul@example.com"), committer=who)
    assert agents(only_committer) == {("aider", "committer")}


def test_aider_message_prefix_and_co_author_address(matcher):
    assert agents(commit(matcher, "aider: Refactor the cache into its own module")) == {("aider", "message")}
    msg = "Refactor cache\n\nCo-authored-by: aider (anthropic/claude-sonnet-4) <noreply@aider.chat>"
    assert agents(commit(matcher, msg)) == {("aider", "trailer")}


# --------------------------------------------------------- Jules, Gemini Code Assist, Amazon Q


@pytest.mark.parametrize("agent,login,uid", [
    ("jules", "google-labs-jules[bot]", 161369871),
    ("gemini-code-assist", "gemini-code-assist[bot]", 176961590),
    ("amazon-q", "amazon-q-developer[bot]", 208079219),
])
def test_google_and_amazon_agent_bots_as_co_author_and_author(matcher, agent, login, uid):
    address = f"{uid}+{login}@users.noreply.github.com"
    msg = f"Apply suggestions from code review\n\nCo-authored-by: {login} <{address}>"
    assert agents(commit(matcher, msg)) == {(agent, "trailer")}
    assert agents(commit(matcher, "Implement the plan", author=(login, address), committer=WEB)) == {
        (agent, "author")}


# ------------------------------------------------------------------------------------ Replit


def test_replit_agent_identity_and_commit_author_trailer(matcher):
    msg = ("Improve pool creation flow\n\n"
           "Replit-Commit-Author: Agent\nReplit-Commit-Session-Id: 0b6f2c1e-3f7a-4d5e-9c1b-2a8d7e6f5a4b")
    assert agents(commit(matcher, msg)) == {("replit-agent", "trailer")}
    assert agents(commit(matcher, "Published your App", author=("Replit Agent", "agent@replit.com"))) == {
        ("replit-agent", "author"), ("replit-agent", "committer")}


def test_replit_deployment_commits_are_not_agent_evidence(matcher):
    msg = "Deploy\n\nReplit-Commit-Author: Deployment\nReplit-Commit-Session-Id: 123"
    assert commit(matcher, msg) == []


# --------------------------------------------------------------------------------------- Amp


def test_amp_thread_and_co_author_trailers(matcher):
    msg = ("fix: waitForTransactionReceipt timeout in race test\n\n"
           "Amp-Thread-ID: https://ampcode.com/threads/T-019cb6d7-c794-742b-ac88-6bc216b24bbc\n"
           "Co-authored-by: Amp <amp@ampcode.com>")
    evs = commit(matcher, msg)
    assert agents(evs) == {("amp", "trailer")}
    # two trailers, one per (agent, kind, class): the thread link says a tool helped, the co-author
    # address that the agent wrote code
    assert sorted(e.evidence_class for e in evs) == ["assisted", "authored"]
    older = "feat: unify events\n\nAmp-Thread: https://ampcode.com/threads/T-9337f592"
    assert agents(commit(matcher, older)) == {("amp", "trailer")}


# ---------------------------------------------------------------------------------- OpenHands


def test_openhands_identity_co_author_and_account(matcher):
    assert agents(commit(matcher, "fix outcome check", author=("openhands", "openhands@all-hands.dev"))) == {
        ("openhands", "author"), ("openhands", "committer")}
    msg = "Add tests\n\nCo-authored-by: openhands <openhands@all-hands.dev>"
    assert agents(commit(matcher, msg)) == {("openhands", "trailer")}
    account = ("openhands-agent", "175740463+openhands-agent@users.noreply.github.com")
    assert matcher.classify_actor(*account) == ("agent", "openhands")


# ------------------------------------------------------------------------------------- traps


@pytest.mark.parametrize("message", [
    "Move the cursor to the end of the line after paste",
    "Continue the loop instead of breaking on empty rows",
    "Add codex lookup table for the ancient-script font",
    "Rename copilot module to autopilot",
    "Claude asked for this: make the Shannon entropy helper public",
    "Integrate Claude, Copilot, Cursor and Codex APIs in the model picker\n\nWe support claude-3 and codex now.",
    "docs: mention aider and devin in the comparison table",
])
def test_bare_agent_words_in_a_message_are_not_evidence(matcher, message):
    assert commit(matcher, message) == []


def test_a_human_co_author_named_claude_is_not_claude_code(matcher):
    msg = "Add entropy estimator\n\nCo-authored-by: Claude Shannon <claude@example.org>"
    assert commit(matcher, msg) == []
    assert matcher.classify_actor("Claude Shannon", "claude@example.org") == ("human", None)


def test_a_human_named_aider_is_not_aider(matcher):
    who = ("Aider Smith", "aider.smith@example.com")
    assert commit(matcher, "Fix the build", author=who) == []
    assert matcher.classify_actor(*who) == ("human", None)
    assert commit(matcher, "Fix the aider: prefix handling in docs") == []


def test_a_generic_bot_is_a_bot_with_no_agent_and_no_evidence(matcher):
    bot = ("acme-release-helper[bot]", "98765+acme-release-helper[bot]@users.noreply.github.com")
    assert matcher.classify_actor(*bot) == ("bot", None)
    assert commit(matcher, "chore: release 1.4.0", author=bot) == []


def test_a_github_noreply_address_alone_is_not_evidence(matcher):
    human = ("Jane Example", "5550123+jane-example@users.noreply.github.com")
    msg = "Fix layout\n\nCo-authored-by: Jo <777+jo-dev@users.noreply.github.com>"
    assert commit(matcher, msg, author=human) == []
    assert matcher.classify_actor(*human) == ("human", None)
    assert matcher.classify_actor("Someone", "users.noreply.github.com") == ("human", None)


def test_a_display_name_is_not_an_account(matcher):
    # Only the address identifies the Copilot account; a person may well type "Copilot" as a name.
    assert matcher.classify_actor("Copilot", "pilot@example.com") == ("human", None)
    assert commit(matcher, "Fix\n\nCo-authored-by: Copilot <pilot@example.com>") == []


def test_a_quoted_footer_inside_a_sentence_is_not_a_footer(matcher):
    msg = ('Strip the "Generated with [Claude Code](https://claude.ai/code)" line in the commit-msg hook\n\n'
           "Our policy forbids tool banners.")
    assert commit(matcher, msg) == []


@pytest.mark.parametrize("branch", [
    "feature/claude-integration", "fix/copilot-typo", "cursor-position-fix", "cursor/blink-fix",
    "devin/notes", "my-codex/feature", "main", "",
])
def test_branch_names_that_only_mention_an_agent_are_not_evidence(matcher, branch):
    assert matcher.match_branch(branch) == []


def test_a_fork_head_label_is_reduced_to_the_branch(matcher):
    assert agents(matcher.match_branch("someone:copilot/fix-99")) == {("copilot", "branch")}


# -------------------------------------------------------------------- evidence shape and limits


def test_at_most_one_evidence_per_agent_and_kind(matcher):
    msg = ("Fix\n\n🤖 Generated with [Claude Code](https://claude.ai/code)\n\n"
           "Co-Authored-By: Claude <noreply@anthropic.com>\n"
           "Co-Authored-By: Claude Opus 4.6 (1M context) <noreply@anthropic.com>\n"
           "Co-authored-by: claude[bot] <209825114+claude[bot]@users.noreply.github.com>")
    evs = commit(matcher, msg, author=("claude[bot]", "209825114+claude[bot]@users.noreply.github.com"))
    pairs = [(e.agent, e.evidence) for e in evs]
    assert len(pairs) == len(set(pairs))
    assert set(pairs) == {("claude-code", k) for k in ("trailer", "footer", "author", "committer")}


def test_several_agents_in_one_commit_are_all_reported(matcher):
    msg = ("Merge review fixes\n\nCo-authored-by: Claude <noreply@anthropic.com>\n"
           "Co-authored-by: Copilot <175728472+Copilot@users.noreply.github.com>\nMade-with: Cursor")
    assert agents(commit(matcher, msg)) == {("claude-code", "trailer"), ("copilot", "trailer"),
                                            ("cursor", "trailer")}


def test_squash_merge_body_co_authors_count_as_message_evidence_at_lower_confidence(matcher):
    msg = ("Add stress test (#311)\n\n* Update loadtest/stress-test.js\n\n"
           "Co-authored-by: Copilot <175728472+Copilot@users.noreply.github.com>\n\n"
           "* fix: formatting\n\nThe final numbers are in the PR description.")
    evs = commit(matcher, msg)
    assert agents(evs) == {("copilot", "message")}
    assert evs[0].confidence == pytest.approx(0.9 * 0.9)
    assert evs[0].evidence_class == "suggestion"  # 175728472+Copilot: an accepted review suggestion


def test_evidence_signal_is_clipped_to_200_characters(matcher):
    msg = "Fix\n\nCo-Authored-By: Claude " + "x" * 300 + " <noreply@anthropic.com>"
    (ev,) = commit(matcher, msg)
    assert len(ev.signal) <= 200
    assert ev.signal.startswith("Co-Authored-By: Claude xxx")


def test_evidence_is_frozen():
    ev = Evidence("claude-code", "trailer", "x", 0.9)
    with pytest.raises(AttributeError):
        ev.agent = "other"  # type: ignore[misc]


# ----------------------------------------------------------------------------- classify_actor


@pytest.mark.parametrize("name,email", [
    ("dependabot[bot]", "49699333+dependabot[bot]@users.noreply.github.com"),
    ("renovate[bot]", "29139614+renovate[bot]@users.noreply.github.com"),
    ("Renovate Bot", "bot@renovateapp.com"),
    ("github-actions[bot]", "41898282+github-actions[bot]@users.noreply.github.com"),
    ("GitHub Action", "action@github.com"),
    ("pre-commit-ci[bot]", "66853113+pre-commit-ci[bot]@users.noreply.github.com"),
    ("Snyk bot", "snyk-bot@snyk.io"),
    ("semantic-release-bot", "semantic-release-bot@martynus.net"),
    ("GitHub", "noreply@github.com"),
    ("dependabot[bot]", "support@github.com"),
])
def test_classify_actor_dependency_and_automation_bots_are_bots(matcher, name, email):
    assert matcher.classify_actor(name, email) == ("bot", None)


@pytest.mark.parametrize("name,email,agent", [
    ("copilot-swe-agent[bot]", "198982749+copilot-swe-agent[bot]@users.noreply.github.com", "copilot"),
    ("Copilot", "198982749+Copilot@users.noreply.github.com", "copilot"),
    ("claude[bot]", "209825114+claude[bot]@users.noreply.github.com", "claude-code"),
    ("claude[bot]", "41898282+claude[bot]@users.noreply.github.com", "claude-code"),
    ("Claude", "noreply@anthropic.com", "claude-code"),
    ("devin-ai-integration[bot]", "158243242+devin-ai-integration[bot]@users.noreply.github.com", "devin"),
    ("Devin AI", "158243242+renamed-devin[bot]@users.noreply.github.com", "devin"),  # matched by numeric id
    ("Cursor Agent", "cursoragent@cursor.com", "cursor"),
    ("google-labs-jules[bot]", "161369871+google-labs-jules[bot]@users.noreply.github.com", "jules"),
    ("Paul Example (aider)", "paul@example.com", "aider"),
    ("Replit Agent", "agent@replit.com", "replit-agent"),
])
def test_classify_actor_ai_agent_accounts_are_agents(matcher, name, email, agent):
    assert matcher.classify_actor(name, email) == ("agent", agent)


@pytest.mark.parametrize("name,email", [
    ("Alice Example", "alice@example.org"),
    ("Bob", "1234+bob@users.noreply.github.com"),
    ("Robot Framework Fan", "robotfan@example.com"),
    ("", ""),
])
def test_classify_actor_people_are_human(matcher, name, email):
    assert matcher.classify_actor(name, email) == ("human", None)


# ---------------------------------------------------------------------- user extensions / config


def test_user_extension_adds_a_trailer_signature_and_an_agent_identity():
    m = Matcher.load([
        {"agent": "our-agent", "evidence": "trailer", "key": "AI-Agent", "regex": "(?i)^our-agent\\b",
         "confidence": 0.8, "description": "our in-house agent"},
        {"agent": "our-agent", "evidence": ["author", "committer"], "email": "agent@corp.example",
         "confidence": 0.99},
    ])
    evs = commit(m, "Fix billing rounding\n\nAI-Agent: our-agent v2")
    assert [(e.agent, e.evidence, e.confidence) for e in evs] == [("our-agent", "trailer", 0.8)]
    assert m.classify_actor("Corp Agent", "agent@corp.example") == ("agent", "our-agent")
    # the package signatures are still there
    assert agents(commit(m, "x\n\nMade-with: Cursor")) == {("cursor", "trailer")}
    assert "our-agent" in m.agents


def test_user_extension_key_filter_limits_an_email_rule_to_that_trailer():
    m = Matcher.load([{"agent": "helper", "evidence": "trailer", "key": "Assisted-by",
                       "email": "helper@corp.example", "confidence": 0.7}])
    assert agents(commit(m, "Fix\n\nAssisted-by: Helper <helper@corp.example>")) == {("helper", "trailer")}
    assert commit(m, "Fix\n\nCo-authored-by: Helper <helper@corp.example>") == []


@pytest.mark.parametrize("entry,field", [
    ({"agent": "x", "evidence": "trailer", "email": "a@b.c", "confidence": 1.5}, "confidence"),
    ({"agent": "x", "evidence": "trailer", "email": "a@b.c", "confidence": True}, "confidence"),
    ({"agent": "x", "evidence": "trailer", "email": "a@b.c", "confidance": 0.5}, "confidance"),
    ({"agent": "x", "evidence": "trailor", "email": "a@b.c", "confidence": 0.5}, "evidence"),
    ({"agent": "X Agent", "evidence": "trailer", "email": "a@b.c", "confidence": 0.5}, "agent"),
    ({"agent": "x", "evidence": "message", "regex": "(unclosed", "confidence": 0.5}, "regex"),
    ({"agent": "x", "evidence": "branch", "email": "a@b.c", "confidence": 0.5}, "email"),
    ({"agent": "x", "evidence": "trailer", "confidence": 0.5}, "regex"),
    ({"agent": "x", "evidence": "author", "email": "not-an-address", "confidence": 0.5}, "email"),
    ({"agent": "x", "evidence": "author", "email": "@users.noreply.github.com", "confidence": 0.5}, "email"),
    ({"agent": "x", "evidence": "author", "login": "a@b", "confidence": 0.5}, "login"),
    ({"agent": "x", "evidence": "footer", "regex": "x", "key": "K", "confidence": 0.5}, "key"),
    ({"agent": "x", "evidence": "author", "login": "y[bot]", "ids": ["abc"], "confidence": 0.5}, "ids"),
])
def test_a_bad_user_entry_raises_config_error_naming_the_entry_and_field(entry, field):
    good = {"agent": "fine", "evidence": "trailer", "email": "fine@example.com", "confidence": 0.5}
    with pytest.raises(ConfigError) as info:
        Matcher.load([good, entry])
    text = str(info.value)
    assert "\n" not in text
    assert "[[attribution.signature]] #2" in text
    assert f"field {field!r}" in text


def test_a_user_entry_that_is_not_a_table_raises_config_error():
    with pytest.raises(ConfigError, match=r"#1: must be a table"):
        Matcher.load(["agent = 'x'"])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="list of tables"):
        Matcher.load({"agent": "x"})  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ package data


def test_package_signatures_cover_every_required_agent(matcher):
    assert {"claude-code", "copilot", "codex", "cursor", "devin", "aider", "jules", "gemini-code-assist",
            "amazon-q", "replit-agent", "amp", "openhands"} <= matcher.agents


def test_package_signatures_all_have_a_description_and_valid_confidence():
    data = tomllib.loads(resources.files("loopmeter").joinpath("data/signatures.toml").read_text("utf-8"))
    bots = tomllib.loads(resources.files("loopmeter").joinpath("data/bots.toml").read_text("utf-8"))
    assert data["signature"] and bots["bot"]
    for entry in data["signature"]:
        assert entry.get("description"), entry
        assert 0 < entry["confidence"] <= 1, entry
        # every package signature states its class; the default is only for loopmeter.toml entries
        assert entry.get("class") in ("authored", "assisted", "suggestion", "message"), entry
    for entry in bots["bot"]:
        assert entry.get("description"), entry
        assert entry.get("source"), entry
        assert not entry.get("login", "").endswith("users.noreply.github.com"), entry


# ------------------------------------------------------------------- classes and newer agents


def classes(evs: list[Evidence]) -> set[tuple[str, str, str]]:
    return {(e.agent, e.evidence, e.evidence_class) for e in evs}


def test_copilot_review_suggestion_coding_agent_and_cli_have_their_own_classes(matcher):
    sugg = "Use a set\n\nCo-authored-by: Copilot <175728472+Copilot@users.noreply.github.com>"
    autofix = "Fix alert\n\nCo-authored-by: Copilot Autofix powered by AI <175728472+Copilot@users.noreply.github.com>"
    agent = "Fix (#1)\n\nCo-authored-by: copilot-swe-agent[bot] <198982749+Copilot@users.noreply.github.com>"
    cli = "Fix\n\nCo-authored-by: Copilot <223556219+Copilot@users.noreply.github.com>"
    assert classes(commit(matcher, sugg)) == {("copilot", "trailer", "suggestion")}
    assert classes(commit(matcher, autofix)) == {("copilot", "trailer", "suggestion")}
    assert classes(commit(matcher, agent)) == {("copilot", "trailer", "authored")}
    assert classes(commit(matcher, cli)) == {("copilot", "trailer", "assisted")}
    assert classes(commit(matcher, "Fix", author=("Copilot", "198982749+Copilot@users.noreply.github.com"))) == {
        ("copilot", "author", "authored"), ("copilot", "committer", "authored")}
    # the review account is not an agent actor; the coding agent's is
    assert matcher.classify_actor("Copilot", "175728472+Copilot@users.noreply.github.com") == ("human", None)
    assert matcher.classify_actor("Copilot", "198982749+Copilot@users.noreply.github.com") == ("agent", "copilot")


def test_aider_committer_only_mark_is_message_class_and_author_mark_is_authored(matcher):
    paul, paul_aider = ("Paul Gauthier", "paul@example.com"), ("Paul Gauthier (aider)", "paul@example.com")
    assert classes(commit(matcher, "Rename x", author=paul, committer=paul_aider)) == {("aider", "committer", "message")}
    assert classes(commit(matcher, "Rename x", author=paul_aider, committer=paul_aider)) == {
        ("aider", "author", "authored"), ("aider", "committer", "message")}
    assert classes(commit(matcher, "aider: Rename x", author=paul, committer=paul)) == {("aider", "message", "authored")}
    co = "Rename x\n\nCo-authored-by: aider (anthropic/claude-sonnet-4) <aider@aider.chat>"
    assert classes(commit(matcher, co, author=paul)) == {("aider", "trailer", "authored")}


def test_gemini_code_assist_co_author_is_an_accepted_suggestion(matcher):
    msg = "Guard nil\n\nCo-authored-by: gemini-code-assist[bot] <176961590+gemini-code-assist[bot]@users.noreply.github.com>"
    assert classes(commit(matcher, msg)) == {("gemini-code-assist", "trailer", "suggestion")}


@pytest.mark.parametrize("message, expected", [
    ("Fix\n\n🤖 Generated with [Cline](https://docs.cline.bot)\n\nCo-Authored-By: Cline <noreply@cline.bot>",
     {("cline", "footer", "assisted"), ("cline", "trailer", "authored")}),
    ("Fix\n\nGenerated with [Continue](https://continue.dev)\n\nCo-Authored-By: Continue <noreply@continue.dev>",
     {("continue", "footer", "assisted"), ("continue", "trailer", "authored")}),
    ("Fix\n\nCo-authored-by: Cody <noreply@sourcegraph.com>", {("cody", "trailer", "assisted")}),
    ("Fix\n\nCo-authored-by: Junie <junie@jetbrains.com>", {("junie", "trailer", "authored")}),
    # the footer line makes that paragraph no trailer block (git's rule): the co-author line is
    # found in the body instead, as evidence "message"
    ("Fix\n\n🤖 Generated with Codebuff\nCo-Authored-By: Codebuff <noreply@codebuff.com>",
     {("codebuff", "footer", "assisted"), ("codebuff", "message", "authored")}),
    ("efi: fix size\n\nAssisted-by: Claude:claude-sonnet-4-5\nSigned-off-by: Thomas Huth <thuth@redhat.com>",
     {("claude-code", "trailer", "assisted")}),
    ("Fix\n\nAssisted-by: Codex:GPT-5.5", {("codex", "trailer", "assisted")}),
    ("Fix\n\nAssisted-by: Gemini CLI:gemini-2.5-pro", {("gemini-cli", "trailer", "assisted")}),
    ("feat: Add user authentication\n\nThis adds OAuth2.\n\nEntire-Checkpoint: a3b2c4d5e6f7",
     {("entire", "trailer", "assisted")}),
    ("Fix\n\nCo-authored-by: OpenDevin <opendevin@opendevin.ai>", {("openhands", "trailer", "authored")}),
    ("Fix\n\nCo-authored-by: OpenDevin <opendevin@all-hands.dev>", {("openhands", "trailer", "authored")}),
    ("Add dark mode\n\n*PR created automatically by Jules for task [1572895956441806809]"
     "(https://jules.google.com/task/1572895956441806809) started by @someone*", {("jules", "message", "authored")}),
    ("Add tests\n\n------\n[Codex Task](https://chatgpt.com/codex/tasks/task_e_694400e34efc8325807c70c531c15e20)",
     {("codex", "message", "authored")}),
    ('Fix\n\n<a href="https://cursor.com/background-agent?bcId=bc-0cf04834-c057-41c6-abc9-853f23aceb21">Open in Cursor</a>',
     {("cursor", "message", "authored")}),
])
def test_newer_agents_are_found_with_their_class(matcher, message, expected):
    assert classes(commit(matcher, message)) == expected


def test_claude_code_app_account_is_an_agent(matcher):
    ident = ("Claude Code[bot]", "1234567+claude-code[bot]@users.noreply.github.com")
    assert matcher.classify_actor(*ident) == ("agent", "claude-code")


@pytest.mark.parametrize("message", [
    "Fix\n\nCo-authored-by: Cline",  # no address: a bare word
    "Fix\n\nCo-authored-by: Cody Smith <cody@example.com>",
    "Fix\n\nCo-authored-by: Continue Team <team@example.com>",
    "Please continue with the migration; claude and cursor and codex are words",
    "Fix\n\nAssisted-by: Jane Doe <jane@example.com>",  # a human credit, not a tool
    "Fix\n\nEntire-Checkpoint: not-a-checkpoint",
    "See https://cursor.com/docs for details",
    "Fix\n\nCo-authored-by: Claude Shannon claude@example.org",
])
def test_traps_of_the_newer_signatures_are_not_evidence(matcher, message):
    assert commit(matcher, message) == []


def test_automation_accounts_beyond_bot_suffix(matcher):
    assert matcher.classify_actor("dotnet bot", "dotnet-bot@dotnetfoundation.org") == ("bot", None)
    assert matcher.classify_actor("bors", "bors@rust-lang.org") == ("bot", None)
    assert matcher.classify_actor("Copybara-Service", "copybara-worker@google.com") == ("bot", None)
    assert matcher.classify_actor("k8s-ci-robot", "20407524+k8s-ci-robot@users.noreply.github.com") == ("bot", None)
    # a person whose name merely contains "bot" is a person
    assert matcher.classify_actor("David Bottiau", "david.bottiau@outlook.com") == ("human", None)


def test_user_signature_class_defaults_to_assisted_and_is_checked():
    m = Matcher.load([{"agent": "ours", "evidence": "trailer", "email": "agent@ours.example", "confidence": 0.9}])
    (ev,) = commit(m, "Fix\n\nCo-authored-by: Our agent <agent@ours.example>")
    assert ev.evidence_class == "assisted"
    with pytest.raises(ConfigError, match="field 'class'"):
        Matcher.load([{"agent": "ours", "evidence": "trailer", "email": "a@ours.example", "confidence": 0.9,
                       "class": "vibes"}])
    with pytest.raises(ConfigError, match=r"\[\[attribution.bot\]\] #1"):
        Matcher.load(None, [{"login": "has space"}])


def test_stored_evidence_is_judged_again_from_its_signal_alone(matcher):
    """Migration 005 classifies rows stored before classes from (agent, kind, signal): every piece of
    evidence the matcher produces must get its own class back from its signal."""
    paul, paul_aider = ("Paul Gauthier", "paul@example.com"), ("Paul Gauthier (aider)", "paul@example.com")
    cases = [
        ("Fix\n\nCo-authored-by: Copilot <175728472+Copilot@users.noreply.github.com>", HUMAN, None),
        ("Fix\n\nCo-authored-by: Copilot <223556219+Copilot@users.noreply.github.com>", HUMAN, None),
        ("Fix", ("Copilot", "198982749+Copilot@users.noreply.github.com"), None),
        ("Rename", paul, paul_aider),
        ("Rename", paul_aider, paul_aider),
        ("aider: Rename x", paul, None),
        ("Fix\n\n🤖 Generated with [Claude Code](https://claude.ai/code)\n\nCo-Authored-By: Claude <noreply@anthropic.com>",
         HUMAN, None),
        ("Squash (#3)\n\n* one\n\nCo-authored-by: Copilot <175728472+Copilot@users.noreply.github.com>\n\n* two", HUMAN, None),
        ("Fix\n\nMade-with: Cursor", HUMAN, None),
        ("Add tests\n\n[Codex Task](https://chatgpt.com/codex/tasks/task_e_694400e34efc8325807c70c531c15e20)", HUMAN, None),
    ]
    seen = 0
    for message, author, committer in cases:
        for ev in commit(matcher, message, author=author, committer=committer):
            assert matcher.class_of_signal(ev.agent, ev.evidence, ev.signal) == ev.evidence_class, ev
            seen += 1
    for ev in matcher.match_branch("refs/heads/claude/fix-login"):
        assert matcher.class_of_signal(ev.agent, "branch", ev.signal) == ev.evidence_class
        seen += 1
    assert seen >= 14
    assert matcher.class_of_signal("copilot", "trailer", "Co-authored-by: Someone <s@example.com>") is None
