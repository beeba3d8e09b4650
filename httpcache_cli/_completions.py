"""Static completions for bash, zsh and fish (no Python runs on TAB)."""

from __future__ import annotations

import re

from ._docmodel import Cmd, Opt, first_sentence, walk
from ._man import GENERATED


def _value_options(cmd: Cmd) -> list[Opt]:
    return [o for o in cmd.options if o.metavar]


def _sh_words(words: list[str]) -> str:
    return " ".join(words)


def bash_completion(root: Cmd) -> str:
    cmds = walk(root)
    walk_cases, value_cases, word_cases = [], [], []
    for cmd in cmds:
        for opt in _value_options(cmd):
            pats = "|".join(f'"{cmd.name} {n}"' for n in opt.names)
            walk_cases.append(f"            {pats}) ((i++)) ;;")
            if opt.choices:
                action = f'COMPREPLY=($(compgen -W "{_sh_words(opt.choices)}" -- "$cur"))'
            elif opt.kind == "dir":
                action = 'COMPREPLY=($(compgen -d -- "$cur"))'
            elif opt.kind == "file":
                action = 'COMPREPLY=($(compgen -f -- "$cur"))'
            else:
                action = "COMPREPLY=()"
            value_cases.append(f"        {pats}) {action}; return ;;")
        if cmd.commands:
            subs = "|".join(f'"{cmd.name} {c.path[-1]}"' for c in cmd.commands)
            walk_cases.append(f'            {subs}) cmd="$cmd $w" ;;')
        options = _sh_words([n for o in cmd.options for n in o.names])
        subwords = _sh_words([c.path[-1] for c in cmd.commands])
        word_cases.append(f'        "{cmd.name}") opts="{options}"; words="{subwords}" ;;')
    return "\n".join(
        [
            f"# bash completion for hc ({GENERATED})",
            "# Install: source this file, or copy it to /etc/bash_completion.d/hc.",
            "_hc() {",
            '    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"',
            '    local cmd="hc" i w opts="" words=""',
            "    for ((i = 1; i < COMP_CWORD; i++)); do",
            '        w="${COMP_WORDS[i]}"',
            '        case "$cmd $w" in',
            *walk_cases,
            "        esac",
            "    done",
            "    if ((COMP_CWORD > 1)); then",
            '        case "$cmd $prev" in',
            *[f"    {line}" for line in value_cases],
            "        esac",
            "    fi",
            '    case "$cmd" in',
            *word_cases,
            "    esac",
            '    if [[ "$cur" == -* ]]; then',
            '        COMPREPLY=($(compgen -W "$opts" -- "$cur"))',
            "    else",
            '        COMPREPLY=($(compgen -W "$words" -- "$cur"))',
            "    fi",
            "}",
            "complete -o default -F _hc hc",
            "",
        ]
    )


def _zsh_text(text: str) -> str:
    text = first_sentence(text)
    for bad, good in (("'", ""), ("[", "("), ("]", ")"), (":", " -"), ("\\", "/")):
        text = text.replace(bad, good)
    return text


def _zsh_function(cmd: Cmd) -> str:
    return "_hc" + "".join("_" + re.sub(r"\W", "_", p) for p in cmd.path[1:])


def _zsh_option(opt: Opt) -> str:
    names = opt.names
    exclusive = "" if opt.repeatable else "(" + " ".join(names) + ")"
    star = "*" if opt.repeatable else ""
    spec = f"{star}{{{','.join(names)}}}" if len(names) > 1 else f"{star}{names[0]}"
    desc = f"[{_zsh_text(opt.help)}]"
    value = ""
    if opt.metavar:
        message = _zsh_text(opt.metavar).replace(" ", "_") or "value"
        if opt.choices:
            action = "(" + " ".join(opt.choices) + ")"
        elif opt.kind == "dir":
            action = "_files -/"
        elif opt.kind == "file":
            action = "_files"
        else:
            action = " "
        value = f":{message}:{action}"
    if len(names) > 1:
        return f"'{exclusive}'{spec}'{desc}{value}'"
    return f"'{exclusive}{spec}{desc}{value}'"


def zsh_completion(root: Cmd) -> str:
    out = ["#compdef hc", f"# zsh completion for hc ({GENERATED})", ""]
    for cmd in reversed(walk(root)):
        specs = [_zsh_option(o) for o in cmd.options]
        lines = [f"{_zsh_function(cmd)}() {{"]
        if cmd.commands:
            lines.append('    local curcontext="$curcontext" state line')
            specs += ["'1: :->command'", "'*:: :->argument'"]
            lines.append("    _arguments -C -s \\")
        else:
            for index, arg in enumerate(cmd.arguments, 1):
                action = "_urls" if arg.kind == "url" else "_files" if arg.kind == "file" else " "
                position = "*" if arg.repeatable else str(index)
                specs.append(f"'{position}:{_zsh_text(arg.metavar)}:{action}'")
            lines.append("    _arguments -s \\")
        lines += [f"        {spec} \\" for spec in specs[:-1]] + [f"        {specs[-1]}"]
        if cmd.commands:
            described = " ".join(f"'{c.path[-1]}:{_zsh_text(c.help)}'" for c in cmd.commands)
            lines += [
                "    case $state in",
                "        command)",
                f"            local -a commands=({described})",
                "            _describe -t commands 'hc command' commands ;;",
                "        argument)",
                "            case $words[1] in",
                *[f"                {c.path[-1]}) {_zsh_function(c)} ;;" for c in cmd.commands],
                "            esac ;;",
                "    esac",
            ]
        lines.append("}")
        out += [*lines, ""]
    out.append('_hc "$@"')
    return "\n".join(out) + "\n"


def _fish_text(text: str) -> str:
    return first_sentence(text).replace("\\", "/").replace("'", "\\'")


def fish_completion(root: Cmd) -> str:
    cmds = walk(root)
    skips, descends = [], []
    for cmd in cmds:
        for opt in _value_options(cmd):
            skips += [f"'{cmd.name} {n}'" for n in opt.names]
        descends += [f"'{cmd.name} {c.path[-1]}'" for c in cmd.commands]
    out = [
        f"# fish completion for hc ({GENERATED})",
        "# The command path typed so far (hc, hc get, hc cache ls ...), skipping option values.",
        "function __hc_path",
        "    set -l words (commandline -opc)",
        "    set -e words[1]",
        "    set -l path hc",
        "    set -l skip 0",
        "    for w in $words",
        "        if test $skip = 1",
        "            set skip 0",
        "            continue",
        "        end",
        '        switch "$path $w"',
        "            case " + " ".join(skips),
        "                set skip 1",
        "            case " + " ".join(descends),
        '                set path "$path $w"',
        "        end",
        "    end",
        "    echo $path",
        "end",
        "",
        "function __hc_at -d 'true if the command path typed so far is the arguments'",
        '    test (__hc_path) = "$argv"',
        "end",
        "",
        "complete -c hc -f",
    ]
    for cmd in cmds:
        cond = f"-n '__hc_at {cmd.name}'"
        for sub in cmd.commands:
            out.append(f"complete -c hc {cond} -a {sub.path[-1]} -d '{_fish_text(sub.help)}'")
        for opt in cmd.options:
            parts = [f"complete -c hc {cond}"]
            for name in opt.names:
                parts.append(f"-l {name[2:]}" if name.startswith("--") else f"-s {name[1:]}")
            parts.append(f"-d '{_fish_text(opt.help)}'")
            if opt.choices:
                parts.append(f"-x -a '{' '.join(opt.choices)}'")
            elif opt.kind == "dir":
                parts.append("-x -a '(__fish_complete_directories)'")
            elif opt.kind == "file":
                parts.append("-r -F")
            elif opt.metavar:
                parts.append("-x")
            out.append(" ".join(parts))
    return "\n".join(out) + "\n"
