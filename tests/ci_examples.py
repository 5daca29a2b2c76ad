#!/usr/bin/env python3
"""docs/examples' CI files, checked as GitHub and GitLab read them.

Usage: ci_examples.py EXAMPLES_DIR
Checks the keys each needs to work as pasted (a trigger, the permission the
JUnit action needs, stages that exist, a JUnit report kept on failure, every
variable it uses explained in its header) and prints, one JSON list a line,
the argv of each prober command it runs, with the host as deploy.invalid and
the key files as ./deploy_key and ./known_hosts, for tests/docs_test.sh to
run through the prober's own parser. Exit 1 with a line per problem.
"""
import json
import re
import shlex
import sys

import yaml

problems = []


def need(cond, what):
    if not cond:
        problems.append(what)


def header_names(text):
    """The variable names the file's opening comments explain."""
    names = set()
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        names.update(re.findall(r"\b([A-Z][A-Z0-9_]{3,})\b", line))
    return names


def prober_argv(command, replacements):
    for old, new in replacements:
        command = command.replace(old, new)
    argv = shlex.split(command)
    if ">" in argv:
        argv = argv[: argv.index(">")]
    return argv


def github(path):
    text = open(path).read()
    doc = yaml.safe_load(text)
    # YAML 1.1 reads the key `on` as true.
    on = doc.get("on", doc.get(True))
    need(on, f"{path}: no trigger (on:)")
    need(isinstance(on, dict) and ("push" in on or "workflow_dispatch" in on), f"{path}: no push or manual trigger")
    perms = doc.get("permissions") or {}
    need(perms.get("checks") == "write", f"{path}: the JUnit report action needs permissions: checks: write")
    used = set(re.findall(r"\$\{\{\s*(?:vars|secrets)\.([A-Z0-9_]+)\s*\}\}", text))
    missing = used - header_names(text)
    need(not missing, f"{path}: variables not explained in its header: {sorted(missing)}")
    commands = []
    for name, job in doc.get("jobs", {}).items():
        steps = job.get("steps", [])
        need(any(s.get("uses", "").startswith("actions/checkout@") for s in steps), f"{path}: {name}: no checkout")
        report = [s for s in steps if s.get("uses", "").startswith("mikepenz/action-junit-report@")]
        need(report and report[0].get("if") == "always()", f"{path}: {name}: no JUnit report step run always()")
        need(any("GITHUB_PATH" in s.get("run", "") for s in steps), f"{path}: {name}: prober never put on PATH")
        for s in steps:
            run = s.get("run", "")
            if run.lstrip().startswith("prober "):
                need("report.xml" in run and report and report[0]["with"]["report_paths"] == "report.xml",
                     f"{path}: {name}: the prober's JUnit file is not the one reported")
                commands.append(prober_argv(run, [("${{ vars.DEPLOY_HOST }}", "deploy.invalid")]))
    return commands


def gitlab(path):
    text = open(path).read()
    doc = yaml.safe_load(text)
    stages = doc.get("stages", [])
    commands = []
    jobs = {k: v for k, v in doc.items() if isinstance(v, dict) and "script" in v}
    for name, job in jobs.items():
        need(job.get("stage") in stages, f"{path}: {name}: stage {job.get('stage')!r} is not in stages")
        for dep in job.get("needs", []):
            need(dep in jobs, f"{path}: {name}: needs {dep!r}, no such job")
        for line in job.get("script", []):
            if line.lstrip().startswith("prober "):
                arts = job.get("artifacts") or {}
                need(arts.get("when") == "always", f"{path}: {name}: the report is not kept when the job fails")
                need((arts.get("reports") or {}).get("junit") == "report.xml", f"{path}: {name}: no junit report")
                commands.append(prober_argv(line, [("$DEPLOY_HOST", "deploy.invalid"),
                                                   ("$DEPLOY_SSH_KEY", "deploy_key"),
                                                   ("$DEPLOY_KNOWN_HOSTS", "known_hosts")]))
    used = set(re.findall(r"\$\{?([A-Z][A-Z0-9_]{3,})", text)) - {"PATH", "PWD"}
    missing = used - header_names(text)
    need(not missing, f"{path}: variables not explained in its header: {sorted(missing)}")
    return commands


def main():
    base = sys.argv[1]
    commands = github(base + "/github-actions.yml") + gitlab(base + "/gitlab-ci.yml")
    need(len(commands) == 2, f"expected one prober command in each file, found {len(commands)}")
    for p in problems:
        print("ci_examples: " + p, file=sys.stderr)
    if problems:
        return 1
    for argv in commands:
        print(json.dumps(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
