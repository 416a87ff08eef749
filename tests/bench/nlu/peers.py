#!/usr/bin/python3
"""Peers for the NLU benchmark, each run as its own process (so /usr/bin/time -v measures
its peak memory): scikit-learn (TF-IDF word 1-2 + char_wb 2-5 grams, sublinear tf, LinearSVC)
and fastText (the Debian `fasttext` CLI, -wordNgrams 2 -epoch 25). Reads Rasa 3.x NLU YAML.
Every command prints one JSON object on stdout.

  peers.py sklearn-train TRAIN.yml MODEL.pkl
  peers.py sklearn-test MODEL.pkl TEST.yml PRED.json
  peers.py sklearn-cv TRAIN.yml FOLDS SEED
  peers.py sklearn-parse MODEL.pkl TEXTS.txt
  peers.py fasttext-file DATA.yml OUT.txt          (fastText's __label__ format)
  peers.py fasttext-score MODEL.bin TEST.yml PRED.json
  peers.py fasttext-cv TRAIN.yml FOLDS SEED WORKDIR
  peers.py score PRED.json...                       (pooled accuracy, macro/weighted/micro F1)
"""
import json
import os
import pickle
import resource
import re
import subprocess
import sys
import time

import yaml
# Imported up front so that import time is not counted in the peer's timings.
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline, make_union
from sklearn.svm import LinearSVC

ANNOT = re.compile(r"\[([^\]]+?)\](?:\([^)]*\)|\{[^}]*\})")


def load(path):
    """(texts, intents) of a Rasa YAML file, annotations reduced to their text."""
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    texts, intents = [], []
    for item in doc.get("nlu", []):
        if "intent" not in item:
            continue
        ex = item.get("examples", "")
        lines = [e["text"] for e in ex] if isinstance(ex, list) else ex.splitlines()
        for line in lines:
            line = line.strip()
            if isinstance(ex, str):
                if not line.startswith("-"):
                    continue
                line = line[1:].strip()
            texts.append(ANNOT.sub(r"\1", line))
            intents.append(item["intent"])
    return texts, intents


def drop_below(texts, intents, k):
    """Rasa's drop_intents_below_freq(cutoff=folds), as conductor-nlu does for CV."""
    from collections import Counter

    c = Counter(intents)
    keep = [i for i, y in enumerate(intents) if c[y] >= k]
    return [texts[i] for i in keep], [intents[i] for i in keep]


def sk_pipeline():
    return make_pipeline(
        make_union(
            TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
        ),
        LinearSVC(),
    )


def write_preds(path, texts, gold, pred):
    with open(path, "w", encoding="utf-8") as f:
        json.dump([{"text": t, "intent": g, "predicted": p} for t, g, p in zip(texts, gold, pred)],
                  f, ensure_ascii=False)


def ft_label(y):
    return "__label__" + y.replace(" ", "\u2581")


def ft_text(t):
    # fastText wants tokens: lowercase, punctuation split off, one line.
    return " ".join(re.findall(r"\w+|[^\w\s]", t.lower()))


def ft_write(path, texts, intents):
    with open(path, "w", encoding="utf-8") as f:
        for t, y in zip(texts, intents):
            f.write(f"{ft_label(y)} {ft_text(t)}\n")


def ft_predict(model, texts, workdir):
    inp = os.path.join(workdir, "predict-input.txt")
    with open(inp, "w", encoding="utf-8") as f:
        for t in texts:
            f.write(ft_text(t) + "\n")
    out = subprocess.run(["fasttext", "predict", model, inp], check=True, capture_output=True,
                         text=True).stdout.splitlines()
    return [l.strip()[len("__label__"):].replace("\u2581", " ") for l in out]


def cpu():
    """CPU seconds of this process and its finished children (fastText runs as children)."""
    me = time.process_time()
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me + ch.ru_utime + ch.ru_stime


FT_ARGS = ["-wordNgrams", "2", "-epoch", "25", "-thread", "2", "-verbose", "0"]


def main(argv):
    cmd = argv[1]
    t0, c0 = time.perf_counter(), cpu()
    if cmd == "sklearn-train":
        texts, intents = load(argv[2])
        m = sk_pipeline().fit(texts, intents)
        secs, cs = time.perf_counter() - t0, cpu() - c0
        with open(argv[3], "wb") as f:
            pickle.dump(m, f)
        print(json.dumps({"seconds": secs, "cpu": cs, "examples": len(texts)}))
    elif cmd == "sklearn-test":
        with open(argv[2], "rb") as f:
            m = pickle.load(f)
        texts, intents = load(argv[3])
        write_preds(argv[4], texts, intents, list(m.predict(texts)))
        print(json.dumps({"seconds": time.perf_counter() - t0}))
    elif cmd == "sklearn-cv":
        k, seed = int(argv[3]), int(argv[4])
        texts, intents = drop_below(*load(argv[2]), k)
        t0, c0 = time.perf_counter(), cpu()
        right = 0
        for tr, te in StratifiedKFold(k, shuffle=True, random_state=seed).split(texts, intents):
            m = sk_pipeline().fit([texts[i] for i in tr], [intents[i] for i in tr])
            pred = m.predict([texts[i] for i in te])
            right += sum(p == intents[i] for p, i in zip(pred, te))
        print(json.dumps({"seconds": time.perf_counter() - t0, "cpu": cpu() - c0,
                          "accuracy": right / len(texts)}))
    elif cmd == "sklearn-parse":
        with open(argv[2], "rb") as f:
            m = pickle.load(f)
        with open(argv[3], encoding="utf-8") as f:
            texts = f.read().splitlines()
        t0, c0 = time.perf_counter(), cpu()
        m.predict(texts)
        print(json.dumps({"seconds": time.perf_counter() - t0, "cpu": cpu() - c0,
                          "utterances": len(texts)}))
    elif cmd == "fasttext-file":
        ft_write(argv[3], *load(argv[2]))
        print(json.dumps({}))
    elif cmd == "fasttext-score":
        texts, intents = load(argv[3])
        write_preds(argv[4], texts, intents,
                    ft_predict(argv[2], texts, os.path.dirname(argv[4]) or "."))
        print(json.dumps({"seconds": time.perf_counter() - t0}))
    elif cmd == "fasttext-cv":
        k, seed, work = int(argv[3]), int(argv[4]), argv[5]
        texts, intents = drop_below(*load(argv[2]), k)
        t0, c0 = time.perf_counter(), cpu()
        right = 0
        for f, (tr, te) in enumerate(
                StratifiedKFold(k, shuffle=True, random_state=seed).split(texts, intents)):
            trf = os.path.join(work, f"cv{f}.txt")
            ft_write(trf, [texts[i] for i in tr], [intents[i] for i in tr])
            out = os.path.join(work, f"cv{f}")
            subprocess.run(["fasttext", "supervised", "-input", trf, "-output", out] + FT_ARGS,
                           check=True, capture_output=True)
            pred = ft_predict(out + ".bin", [texts[i] for i in te], work)
            right += sum(p == intents[i] for p, i in zip(pred, te))
            # ~800 MB each with the default 2M buckets: do not keep them around.
            for ext in (".bin", ".vec"):
                os.unlink(out + ext)
        print(json.dumps({"seconds": time.perf_counter() - t0, "cpu": cpu() - c0,
                          "accuracy": right / len(texts)}))
    elif cmd == "score":
        gold, pred = [], []
        for i, path in enumerate(argv[2:]):
            with open(path, encoding="utf-8") as f:
                rows = json.load(f)
            # Labels are prefixed by file so that pooled sets keep their intents apart.
            gold += [f"{i}/{r['intent']}" for r in rows]
            pred += [f"{i}/{r['predicted']}" for r in rows]
        labels = sorted(set(gold))
        print(json.dumps({
            "n": len(gold),
            "accuracy": accuracy_score(gold, pred),
            "macro_f1": f1_score(gold, pred, labels=labels, average="macro", zero_division=0),
            "weighted_f1": f1_score(gold, pred, labels=labels, average="weighted",
                                    zero_division=0),
            "micro_f1": f1_score(gold, pred, labels=labels, average="micro", zero_division=0),
        }))
    else:
        sys.exit(f"peers.py: unknown command {cmd}")


if __name__ == "__main__":
    main(sys.argv)
