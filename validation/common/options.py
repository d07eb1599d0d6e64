"""Command-line options generated from config dataclasses: one source per knob.

A config field declares its help text once, in ``field(metadata={"help": ...})``
(``help_field`` below); its range is checked once, by the dataclass's ``__post_init__``.
``add_config_options`` turns every field into an option (``--batch-size`` for
``batch_size``), recursing into embedded config dataclasses (an experiment config that
embeds ``TrainConfig`` exposes ``--lr``, ``--hidden``, … without copying them), and
``config_from_args`` builds the config back, replacing only what was given on the
command line. Options default to ``None`` (argparse's "not given"), so a preset or a
base config supplies every value the user did not set, and ``--help`` shows that value.

A ``ValueError`` from the dataclass checks names the field; ``interaction.cliutil.run_cli``
prints it as one line with exit status 2.
"""
from __future__ import annotations

import argparse
import dataclasses
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from interaction.cliutil import CHOICES, CLI, HELP, PARSE, help_field, parse_seed

__all__ = ["help_field", "parse_seed", "add_config_options", "add_alias_options", "config_from_args",
           "config_from_dict", "given_options", "name_option", "replace_paths"]


def _strip_optional(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def _none_or(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse_optional(text: str) -> Any:
        return None if text.strip().lower() == "none" else parse(text)
    parse_optional.__name__ = getattr(parse, "__name__", "value")
    return parse_optional


def _parser_for(tp: Any) -> Callable[[str], Any]:
    optional = _strip_optional(tp) is not tp
    tp = _strip_optional(tp)
    origin = typing.get_origin(tp)
    if tp is bool:
        parse: Callable[[str], Any] = _parse_bool
    elif tp in (int, float, str):
        parse = tp
    elif origin is tuple:
        args = typing.get_args(tp)
        item = _parser_for(args[0]) if args else str

        def parse(text: str) -> tuple:  # 'a,b,c'
            return tuple(item(part) for part in text.split(",") if part.strip())
    else:
        raise TypeError(f"no command-line parser for field type {tp!r}: give one with help_field(parse=...)")
    return _none_or(parse) if optional else parse


def _is_config(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _walk(cls: type, prefix: tuple[str, ...] = ()):
    """(path, field, resolved type) of every leaf field, depth first; embedded dataclasses are expanded."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if _is_config(tp):
            yield from _walk(tp, prefix + (f.name,))
        elif f.metadata.get(CLI, True) and f.init:
            yield prefix + (f.name,), f, tp


def option_name(path: tuple[str, ...]) -> str:
    """``--batch-size`` for ``('train', 'batch_size')``: embedded configs share one flat option namespace."""
    return "--" + path[-1].replace("_", "-")


def name_option(message: str, cls: type) -> str:
    """``'seed must be >= 0'`` -> ``'--seed: seed must be >= 0'`` when the message starts with the name of a
    leaf field of config dataclass ``cls``: a config check names the field, the user typed the option."""
    match = re.match(r"([A-Za-z_][A-Za-z0-9_]*)\b", message)
    if match and any(path[-1] == match.group(1) for path, _, _ in _walk(cls)):
        return f"{option_name((match.group(1),))}: {message}"
    return message


def _dest(path: tuple[str, ...]) -> str:
    return "__".join(path)


def add_config_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup, cls: type, *,
                       exclude: Iterable[str] = (), help_overrides: Mapping[str, str] | None = None,
                       defaults: Any = None) -> None:
    """Add one option per leaf field of config dataclass ``cls`` (embedded configs expanded).

    ``exclude`` names leaf fields that the CLI sets otherwise (or not at all);
    ``help_overrides`` replaces a field's help for this CLI; ``defaults`` (an instance of
    ``cls``) is shown in ``--help`` as the value used when the option is not given.
    """
    excluded = set(exclude)
    helps = dict(help_overrides or {})
    seen: dict[str, tuple[str, ...]] = {}
    for path, f, tp in _walk(cls):
        if path[-1] in excluded:
            continue
        name = option_name(path)
        if name in seen:
            raise TypeError(f"{cls.__name__}: fields {'.'.join(seen[name])} and {'.'.join(path)} "
                            f"would both be {name}")
        seen[name] = path
        text = helps.get(path[-1], f.metadata.get(HELP))
        if text is None:
            raise TypeError(f"{cls.__name__}.{'.'.join(path)} has no help text: declare it with help_field(help=...)")
        if defaults is not None:
            text = f"{text} [default: {_format(_get(defaults, path))}]"
        kwargs: dict[str, Any] = {"dest": _dest(path), "default": None, "help": text.replace("%", "%%"),
                                  "type": f.metadata.get(PARSE) or _parser_for(tp),
                                  "metavar": path[-1].upper()}
        if CHOICES in f.metadata:
            kwargs["choices"] = f.metadata[CHOICES]
        parser.add_argument(name, **kwargs)


def _get(obj: Any, path: tuple[str, ...]) -> Any:
    for name in path:
        obj = getattr(obj, name)
    return obj


def _format(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def given_options(args: argparse.Namespace, cls: type) -> dict[tuple[str, ...], Any]:
    """The leaf fields of ``cls`` that were given on the command line, by path."""
    return {path: getattr(args, _dest(path)) for path, _, _ in _walk(cls)
            if getattr(args, _dest(path), None) is not None}


def replace_paths(config: Any, values: Mapping[tuple[str, ...], Any]) -> Any:
    """``config`` with every (possibly nested) field of ``values`` replaced in one step per level.

    All replacements of one level go into a single ``dataclasses.replace``, so the checks of
    ``__post_init__`` see the new values together (``--epochs 5000 --late-epoch 3000`` is
    valid even where either alone would contradict the other's old value).
    """
    top: dict[str, Any] = {}
    nested: dict[str, dict[tuple[str, ...], Any]] = {}
    for path, value in values.items():
        if len(path) == 1:
            top[path[0]] = value
        else:
            nested.setdefault(path[0], {})[path[1:]] = value
    for name, inner in nested.items():
        top[name] = replace_paths(getattr(config, name), inner)
    return dataclasses.replace(config, **top) if top else config


def _alias_dest(option: str) -> str:
    return "alias__" + option.lstrip("-").replace("-", "_")


def add_alias_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup,
                      aliases: Mapping[str, tuple], defaults: Any) -> None:
    """Options that set a nested field under an experiment's historical name.

    ``aliases[option] = (path, help)`` or ``(path, help, parse)`` (``parse`` defaults to
    ``int``), e.g. ``{"--epochs": (("train", "max_epochs"), "training epochs")}``; the help
    shows the value in ``defaults``. ``config_from_args(..., aliases=aliases)`` applies them.
    """
    for option, (path, text, *rest) in aliases.items():
        parser.add_argument(option, dest=_alias_dest(option), default=None, metavar=path[-1].upper(),
                            type=rest[0] if rest else int,
                            help=f"{text} [default: {_format(_get(defaults, path))}]".replace("%", "%%"))


def config_from_args(args: argparse.Namespace, base: Any, *, aliases: Mapping[str, tuple] | None = None) -> Any:
    """``base`` with every option given on the command line replaced (nested configs and aliases included)."""
    values = given_options(args, type(base))
    for option, (path, *_) in (aliases or {}).items():
        value = getattr(args, _alias_dest(option), None)
        if value is not None:
            values[path] = value
    return replace_paths(base, values)


def config_from_dict(cls: type, data: Mapping[str, Any], *, source: str = "config") -> Any:
    """Rebuild a (nested) config dataclass from ``dataclasses.asdict`` output read back from JSON.

    Lists become tuples where the field is a tuple; unknown or missing keys raise a
    ``ValueError`` that names ``source`` (the file the dict came from).
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"{source}: expected an object for {cls.__name__}, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown, missing = set(data) - names, names - set(data)
    if unknown:
        raise ValueError(f"{source}: unknown {cls.__name__} field(s) {sorted(unknown)}")
    if missing:
        raise ValueError(f"{source}: {cls.__name__} lacks field(s) {sorted(missing)} (written by another version?)")
    kwargs = {}
    for name, value in data.items():
        tp = _strip_optional(hints[name])
        if _is_config(tp) and value is not None:
            value = config_from_dict(tp, value, source=source)
        elif isinstance(value, list):
            value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ValueError(f"{source}: {cls.__name__} cannot be rebuilt ({exc})") from None
