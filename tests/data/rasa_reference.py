#!/usr/bin/env python3
"""Cross-check our NLU YAML loader against a Python re-statement of Rasa 3.6's reader.

The reference below follows rasa/shared/nlu/training_data/{entities_parser.py,
formats/rasa_yaml.py} (see ../shared/docs/rasa-formats.md §1.2-1.3): the same ENTITY_REGEX run
by Python's `re` on Python strings, so offsets are the code-point offsets Rasa computes. For
every YAML file given (and every file in given directories) it compares text, intent and
entities of each example with `nlu_data_dump FILE`.

usage: rasa_reference.py NLU_DATA_DUMP PATH...     exit 0 same, 1 differences, 77 skipped
"""
import json
import os
import re
import subprocess
import sys

try:
    import yaml  # PyYAML (Debian python3-yaml); Rasa uses ruamel, same result on this data
except ImportError:
    print("1..0 # SKIP python3-yaml missing")
    sys.exit(1 if os.environ.get("CD_TEST_MUST_WORK") == "1" else 77)
# the C-accelerated loader when present (it only changes speed): the benchmark peer uses it
BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

ENTITY_REGEX = re.compile(
    r"\[(?P<entity_text>[^\]]+?)\](\((?P<entity>[^:)]+?)(?:\:(?P<value>[^)]+))?\)"
    r"|\{(?P<entity_dict>[^}]+?)\}|\[(?P<list_entity_dicts>.*?)\])"
)
STRIP = "\n\r "
LATEST = (3, 1)


class UniqueKeyLoader(BaseLoader):
    """ruamel (Rasa's YAML library) refuses duplicate keys; PyYAML would keep the last."""

    def construct_mapping(self, node, deep=False):
        keys = [self.construct_object(k, deep=deep) for k, _ in node.value]
        if len(keys) != len(set(map(str, keys))):
            raise yaml.constructor.ConstructorError(None, None, "duplicate key", node.start_mark)
        return super().construct_mapping(node, deep)


MAX_DEPTH = 64  # CD_NLU_MAX_YAML_DEPTH


def depth(x):
    if isinstance(x, dict):
        return 1 + max((depth(v) for v in x.values()), default=0)
    if isinstance(x, list):
        return 1 + max((depth(v) for v in x), default=0)
    return 0


def newer_version(doc):
    """Rasa's validate_training_data_format_version: a newer version skips the file."""
    v = doc.get("version")
    if not isinstance(v, str):
        return False
    try:
        parts = tuple(int(x) for x in v.strip("\"'").split("."))
    except ValueError:
        return False
    return parts > LATEST


def find_entities(example):
    entities, offset = [], 0
    for m in ENTITY_REGEX.finditer(example):
        text = m.group("entity_text")
        if m.group("entity_dict"):
            dicts = [json.loads("{" + m.group("entity_dict") + "}")]
            for d in dicts:  # entity_dict_schema
                if not isinstance(d.get("entity"), str) or any(
                        not isinstance(d.get(k, ""), str) for k in ("role", "group")):
                    raise ValueError("entity dict schema")
        elif m.group("list_entity_dicts"):
            dicts = json.loads("[" + m.group("list_entity_dicts") + "]")
        else:
            dicts = [{"entity": m.group("entity"), "value": m.group("value") or text}]
        for d in dicts:
            start = m.start() - offset
            e = {"start": start, "end": start + len(text), "value": d.get("value", text),
                 "entity": d["entity"]}
            for k in ("role", "group"):
                if d.get(k) is not None:
                    e[k] = d[k]
            entities.append(e)
        offset += len(m.group(0)) - len(text)
    return entities


def replace_entities(example):
    return ENTITY_REGEX.sub(lambda m: m.group("entity_text"), example)


def read(path):
    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.load(f, Loader=UniqueKeyLoader)
    except (yaml.YAMLError, UnicodeDecodeError):
        return None  # Rasa fails on this file: so must we
    except RecursionError:
        return None
    if depth(doc) > MAX_DEPTH:
        return None  # our documented limit (docs/nlu-data.md): refused on purpose
    out = []
    if not isinstance(doc, dict) or not isinstance(doc.get("nlu"), list) or newer_version(doc):
        return out
    for item in doc["nlu"]:
        if not isinstance(item, dict) or "intent" not in item:
            continue
        intent = str(item["intent"] or "").strip()
        examples = item.get("examples")
        if not intent:
            continue
        if isinstance(examples, str):
            texts = [l[1:].strip(STRIP) for l in examples.splitlines() if l.startswith("-")]
        elif isinstance(examples, list):
            texts = [e.get("text", "").strip(STRIP) for e in examples if e]
        else:
            texts = []
        for t in texts:
            plain = replace_entities(t)
            try:
                entities = find_entities(t)
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # Rasa rejects the file; we report an error and skip the example
            if plain:  # we skip empty examples with a warning
                e = {"text": plain, "intent": intent.split("/")[0], "entities": entities}
                if len(intent.split("/")) == 2:  # Message.build: split_intent_response_key
                    e["response_key"] = intent
                out.append(e)
    return out


def files(paths):
    for p in paths:
        if os.path.isdir(p):
            for base, dirs, names in sorted(os.walk(p)):
                for n in sorted(names):
                    if n.endswith((".yml", ".yaml")):
                        yield os.path.join(base, n)
        else:
            yield p


def main():
    dump, paths = sys.argv[1], sys.argv[2:]
    failed = checked = examples = 0
    for path in files(paths):
        ref = read(path)
        r = subprocess.run([dump, path], capture_output=True, text=True)
        if ref is None:
            if r.returncode == 0:
                print(f"not ok - {path}: Rasa's YAML loader refuses it, ours loaded it")
                failed += 1
            else:
                print(f"ok - {path}: refused by both")
            continue
        if r.returncode != 0:
            if not ref:
                print(f"ok - {path}: no examples for both")
            if ref:
                print(f"not ok - {path}: our loader failed: {r.stderr.strip()}")
                failed += 1
            continue
        ours = [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]
        for o in ours:
            o.pop("at", None)
        checked += 1
        examples += len(ref)
        if ours == ref:
            print(f"ok - {path}: {len(ref)} examples identical")
            continue
        failed += 1
        for i, (a, b) in enumerate(zip(ours, ref)):
            if a != b:
                print(f"not ok - {path}: example {i} differs:\n  ours: {a}\n  rasa: {b}")
                break
        else:
            print(f"not ok - {path}: {len(ours)} examples, Rasa's reader gives {len(ref)}")
    print(f"# {checked} files, {examples} examples compared, {failed} failing")
    sys.exit(1 if failed or not checked else 0)


if __name__ == "__main__":
    main()
