"""Static bash, zsh and fish completion scripts, generated from the typer app.

Static scripts complete instantly (no Python start per TAB) and a test regenerates them, so
they cannot drift from the CLI. Regenerate with `python scripts/gen_completions.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

HEADER = "generated from the blipctl CLI by scripts/gen_completions.py; do not edit"


@dataclass
class Node:
    """One command or group: its path from the root, options and what its arguments are."""

    path: str
    help: str = ""
    subcommands: dict[str, str] = field(default_factory=dict)  # name -> one-line help
    flags: list[tuple[list[str], str]] = field(default_factory=list)  # (names, help)
    valued: list[tuple[list[str], str, str]] = field(default_factory=list)  # (names, kind, help)
    argument: str = ""  # kind of positional value: file, dir, recipe, choice:..., or ""


def _kind(param) -> str:
    """How to complete a parameter's value: file, dir, recipe, `choice:a b`, or none."""
    import enum
    import typing
    from pathlib import Path

    td = param.type_descriptor
    info, ann = td.parameter_info, td.annotation
    if typing.get_origin(ann) in (list, tuple):
        ann = typing.get_args(ann)[0]
    if (info.metavar or "").strip("[].").startswith("RECIPE"):
        return "recipe"
    if typing.get_origin(ann) is typing.Literal:
        return "choice:" + " ".join(map(str, typing.get_args(ann)))
    if isinstance(ann, type) and issubclass(ann, enum.Enum):
        return "choice:" + " ".join(str(m.value) for m in ann)
    if ann is Path:
        return "dir" if info.dir_okay and not info.file_okay else "file"
    return "none"


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0].rstrip(".") if text else ""


def walk(app) -> list[Node]:
    """Every command of the typer app, depth first, root first."""
    import typer.main

    nodes: list[Node] = []

    def visit(cmd, path: str) -> None:
        node = Node(path, _first_line(cmd.help))
        for p in cmd.params:
            if p.param_type_name == "argument":
                node.argument = node.argument or _kind(p)  # the first one decides
                continue
            names = [*p.opts, *p.secondary_opts]
            if p.is_flag:
                node.flags.append((names, _first_line(p.help)))
            else:
                node.valued.append((names, _kind(p), _first_line(p.help)))
        node.flags.append((["-h", "--help"], "Show help and exit"))
        subs = getattr(cmd, "commands", {})
        for name in sorted(subs):
            node.subcommands[name] = _first_line(subs[name].help)
        nodes.append(node)
        for name in sorted(subs):
            visit(subs[name], f"{path} {name}".strip())

    visit(typer.main.get_command(app), "")
    return nodes


def _case(nodes: list[Node], value) -> str:
    lines = [f'        "{n.path}") echo "{value(n)}" ;;' for n in nodes if value(n)]
    return "\n".join(lines)


def _shared_functions(nodes: list[Node], recipes: list[str]) -> str:
    """POSIX-ish functions that bash and zsh both run: the command tree as `case` tables."""
    valued = [f'        "{n.path}|{name}") echo "{kind}" ;;'
              for n in nodes for names, kind, _ in n.valued for name in names]
    return f"""_blipctl_subcommands() {{
    case "$1" in
{_case(nodes, lambda n: " ".join(n.subcommands))}
    esac
}}

_blipctl_options() {{
    case "$1" in
{_case(nodes, lambda n: " ".join(x for names, *_ in n.flags + n.valued for x in names))}
    esac
}}

_blipctl_value_kind() {{
    case "$1|$2" in
{chr(10).join(valued)}
    esac
}}

_blipctl_argument_kind() {{
    case "$1" in
{_case(nodes, lambda n: n.argument)}
    esac
}}

_blipctl_recipes="{" ".join(recipes)}"
"""


def bash(nodes: list[Node], recipes: list[str]) -> str:
    return f"""# bash completion for blipctl; {HEADER}.
# Use: source completions/blipctl.bash

{_shared_functions(nodes, recipes)}
_blipctl_complete_kind() {{
    local kind="$1" cur="$2"
    case "$kind" in
        dir) COMPREPLY=($(compgen -d -- "$cur")) ;;
        file) COMPREPLY=($(compgen -f -- "$cur")) ;;
        recipe) COMPREPLY=($(compgen -W "$_blipctl_recipes" -- "$cur") $(compgen -f -- "$cur")) ;;
        choice:*) COMPREPLY=($(compgen -W "${{kind#choice:}}" -- "$cur")) ;;
        *) COMPREPLY=() ;;
    esac
}}

_blipctl() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    local cmdpath="" i w kind subs
    for ((i = 1; i < COMP_CWORD; i++)); do
        w="${{COMP_WORDS[i]}}"
        subs=" $(_blipctl_subcommands "$cmdpath") "
        if [[ "$w" != -* && "$subs" == *" $w "* ]]; then cmdpath="${{cmdpath:+$cmdpath }}$w"; fi
    done
    kind="$(_blipctl_value_kind "$cmdpath" "$prev")"
    if [[ -n "$kind" ]]; then _blipctl_complete_kind "$kind" "$cur"; return; fi
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$(_blipctl_options "$cmdpath")" -- "$cur")); return
    fi
    subs="$(_blipctl_subcommands "$cmdpath")"
    if [[ -n "$subs" ]]; then COMPREPLY=($(compgen -W "$subs" -- "$cur")); return; fi
    _blipctl_complete_kind "$(_blipctl_argument_kind "$cmdpath")" "$cur"
}}

complete -o filenames -F _blipctl blipctl
"""


def zsh(nodes: list[Node], recipes: list[str]) -> str:
    described = []
    for n in nodes:
        if n.subcommands:
            items = " ".join(f"'{name}:{_q(h)}'" for name, h in n.subcommands.items())
            described.append(f'        "{n.path}") subs=({items}) ;;')
    return f"""#compdef blipctl
# zsh completion for blipctl; {HEADER}.
# Use: put this file on $fpath as _blipctl, then run compinit.

{_shared_functions(nodes, recipes)}
_blipctl_complete_kind() {{
    case "$1" in
        dir) _files -/ ;;
        file) _files ;;
        recipe) compadd -- ${{=_blipctl_recipes}}; _files -g '*.y(a|)ml' ;;
        choice:*) compadd -- ${{=${{1#choice:}}}} ;;
    esac
}}

_blipctl() {{
    local cmdpath="" i w kind cur="${{words[CURRENT]}}" prev="${{words[CURRENT-1]}}"
    local -a subs
    for ((i = 2; i < CURRENT; i++)); do
        w="${{words[i]}}"
        if [[ "$w" != -* && " $(_blipctl_subcommands "$cmdpath") " == *" $w "* ]]; then
            cmdpath="${{cmdpath:+$cmdpath }}$w"
        fi
    done
    kind="$(_blipctl_value_kind "$cmdpath" "$prev")"
    if [[ -n "$kind" ]]; then _blipctl_complete_kind "$kind"; return; fi
    if [[ "$cur" == -* ]]; then compadd -- ${{=$(_blipctl_options "$cmdpath")}}; return; fi
    case "$cmdpath" in
{chr(10).join(described)}
    esac
    if (( ${{#subs}} )); then _describe -t commands 'blipctl command' subs; return; fi
    _blipctl_complete_kind "$(_blipctl_argument_kind "$cmdpath")"
}}

_blipctl "$@"
"""


def _q(text: str) -> str:
    return text.replace("'", "").replace(":", "\\:")


def fish(nodes: list[Node], recipes: list[str]) -> str:
    lines = [
        f"# fish completion for blipctl; {HEADER}.",
        "# Use: copy to ~/.config/fish/completions/blipctl.fish",
        "",
        "function __blipctl_path --description 'the blipctl subcommand path typed so far'",
        "    set -l path",
        "    for t in (commandline -opc)[2..-1]",
        "        if not string match -q -- '-*' $t; and contains -- $t (__blipctl_subcommands \"$path\")",
        "            set path (string trim -- \"$path $t\")",
        "        end",
        "    end",
        "    echo $path",
        "end",
        "",
        "function __blipctl_subcommands",
        "    switch $argv[1]",
    ]
    for n in nodes:
        if n.subcommands:
            lines += [f"        case '{n.path}'", f"            printf '%s\\n' {' '.join(n.subcommands)}"]
    lines += ["    end", "end", "",
              "function __blipctl_at --argument-names want",
              "    test (__blipctl_path) = \"$want\"",
              "end", "", "complete -c blipctl -f"]
    for n in nodes:
        cond = f"-n '__blipctl_at \"{n.path}\"'"
        for name, h in n.subcommands.items():
            lines.append(f"complete -c blipctl {cond} -a '{name}' -d '{_fq(h)}'")
        for names, h in n.flags:
            lines.append(f"complete -c blipctl {cond} {_fish_names(names)} -d '{_fq(h)}'")
        for names, kind, h in n.valued:
            lines.append(f"complete -c blipctl {cond} {_fish_names(names)} -r "
                         f"{_fish_values(kind, recipes)} -d '{_fq(h)}'".replace("  ", " "))
        if n.argument and n.argument != "none":
            lines.append(f"complete -c blipctl {cond} {_fish_values(n.argument, recipes)}")
    return "\n".join(lines) + "\n"


def _fish_names(names: list[str]) -> str:
    return " ".join(f"-l {x[2:]}" if x.startswith("--") else f"-s {x[1:]}" for x in names)


def _fish_values(kind: str, recipes: list[str]) -> str:
    if kind == "file":
        return "-F"
    if kind == "dir":
        return "-a '(__fish_complete_directories)'"
    if kind == "recipe":
        return f"-F -a '{' '.join(recipes)}'"
    if kind.startswith("choice:"):
        return f"-a '{kind[7:]}'"
    return ""


def _fq(text: str) -> str:
    return text.replace("'", "\\'")


def render_all(app, recipes: list[str]) -> dict[str, str]:
    """File name under completions/ -> script text."""
    nodes = walk(app)
    return {"blipctl.bash": bash(nodes, recipes), "_blipctl": zsh(nodes, recipes),
            "blipctl.fish": fish(nodes, recipes)}
