"""What the NLU bench scripts (cv, cv-peers, braun-variants) write for conductor-nlu: an
intent-only config.yml and Rasa YAML training data. No third-party imports."""


def intent_config(word=(1, 2), char=(2, 5), solver="crammer_singer", c=0.55, stem=True):
    """config.yml of the intent components only (no tagger, which does not touch the intent
    classifier): conductor-nlu's default features unless told otherwise (lib/nlu/
    config-default.c); word or char None leaves that featurizer out"""
    feats = ""
    if word:
        feats += (f"- name: CountVectorsFeaturizer\n  min_ngram: {word[0]}\n"
                  f"  max_ngram: {word[1]}\n  stem: {'true' if stem else 'false'}\n")
    if char:
        feats += (f"- name: CountVectorsFeaturizer\n  analyzer: char_wb\n"
                  f"  min_ngram: {char[0]}\n  max_ngram: {char[1]}\n")
    return ("language: en\npipeline:\n- name: WhitespaceTokenizer\n" + feats +
            f"- name: LinearIntentClassifier\n  C: {c}\n  solver: {solver}\n")


def write_nlu(path, examples):
    """Rasa 3 YAML of (text, intent) pairs, intents in first-seen order, texts as given
    (annotations included)"""
    by = {}
    for text, intent in examples:
        by.setdefault(intent, []).append(text)
    with open(path, "w", encoding="utf-8") as f:
        f.write('version: "3.1"\nnlu:\n')
        for intent, texts in by.items():
            f.write(f"- intent: {intent}\n  examples: |\n")
            f.writelines(f"    - {t}\n" for t in texts)
