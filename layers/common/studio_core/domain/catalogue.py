"""Catalogue files: a store's whole feed as ``inbox/<name>.csv`` or ``.jsonl``, one product per row.

CSV columns: ``id``, ``image_urls`` (separated by spaces or ``|``), optional ``title``,
``category``, ``description``, ``kind``, ``operation_priority``, ``number_of_generations``,
``on_figure_image_types`` / ``flat_lay_image_types`` (``front/standing;back/walking``),
``review`` (``none``, ``auto`` or ``required``) and ``force`` (``true`` asks for a new
generation of work already done). JSONL: one job file per line, with ``product.id`` and
``image_urls``. Both formats become the same rows (``parse_catalogue``);
each row is checked on its own, so a bad row, a line that is not JSON included, fails alone with
its line number.

Ingest checks only the file's head (``check_catalogue_head``: UTF-8, the columns); the catalogue
state machine reads the whole file at the version its event named (``steps.catalogue_run``).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from studio_core.domain.errors import InvalidJob
from studio_core.domain.jobs import JsonTooDeep, load_json_text

REQUIRED_COLUMNS = ("id", "image_urls")
PRODUCT_COLUMNS = ("title", "category", "description")
SETTING_COLUMNS = ("kind", "operation_priority", "number_of_generations", "review")
TYPE_COLUMNS = {"on_figure_image_types": "on_figure", "flat_lay_image_types": "flat_lay"}
FORCE_COLUMN = "force"
TRUE_WORDS = frozenset({"true", "yes", "1", "y"})
FALSE_WORDS = frozenset({"false", "no", "0", "n", ""})


CSV = "csv"
JSONL = "jsonl"
HEAD_BYTES = 64 * 1024  # what ingest reads of a catalogue: enough for its header line


@dataclass(frozen=True)
class CatalogueRow:
    line: int
    product_id: str | None
    document: dict[str, Any] | None
    problem: str | None = None


def parse_catalogue(raw: bytes, name: str) -> list[CatalogueRow]:
    """Every row of a catalogue, in file order; raises ``InvalidJob`` only when the file as a whole
    cannot be a catalogue (not UTF-8, a CSV header without the required columns, no rows)."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidJob(f"catalogue {name} is not UTF-8 text") from None
    rows = _jsonl_rows(text) if catalogue_format(name) == JSONL else _csv_rows(text, name)
    if not rows:
        raise InvalidJob(f"catalogue {name} has no products")
    return rows


def _csv_rows(text: str, name: str) -> list[CatalogueRow]:
    reader = csv.DictReader(io.StringIO(text))
    columns = [c.strip() for c in reader.fieldnames or []]
    if not columns:
        raise InvalidJob(f"catalogue {name} has no products")
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise InvalidJob(
            f"catalogue {name} lacks the column(s) {', '.join(missing)}; it has {', '.join(columns)}"
        )
    known = {*REQUIRED_COLUMNS, *PRODUCT_COLUMNS, *SETTING_COLUMNS, *TYPE_COLUMNS, FORCE_COLUMN}
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise InvalidJob(f"catalogue {name} has unknown column(s) {', '.join(unknown)}")
    rows = []
    for record in reader:
        record = {k.strip(): (v or "").strip() for k, v in record.items() if k}
        if not any(record.values()):
            continue
        # The file's line (blank lines count), so a person finds the row in an editor.
        rows.append(_csv_row(reader.line_num, record))
    return rows


def _csv_row(line: int, record: dict[str, str]) -> CatalogueRow:
    product_id = record["id"] or None
    if product_id is None:
        return CatalogueRow(line, None, None, f"line {line}: the id column is empty")
    document: dict[str, Any] = {
        "product": {k: record[k] for k in PRODUCT_COLUMNS if record.get(k)},
        "image_urls": record["image_urls"].replace("|", " ").split(),
    }
    for column in SETTING_COLUMNS:
        if record.get(column):
            value: Any = record[column]
            if column == "number_of_generations":
                value = int(value) if value.isdigit() else value
            document[column] = value
    for column, kind in TYPE_COLUMNS.items():
        if record.get(column):
            document.setdefault("image_types", {})[kind] = [
                t.strip() for t in record[column].split(";") if t.strip()
            ]
    force = record.get(FORCE_COLUMN, "").lower()
    if force in TRUE_WORDS:
        document["force"] = True
    elif force not in FALSE_WORDS:
        return CatalogueRow(
            line, product_id, None, f"line {line}: force must be true or false, not {force!r}"
        )
    return CatalogueRow(line, product_id, document)


def _jsonl_rows(text: str) -> list[CatalogueRow]:
    rows = []
    for line, content in enumerate(text.splitlines(), start=1):
        if not content.strip():
            continue
        try:
            document = load_json_text(content)
        except json.JSONDecodeError as exc:
            rows.append(CatalogueRow(line, None, None, f"line {line}: not valid JSON ({exc.msg})"))
            continue
        except JsonTooDeep as exc:
            rows.append(CatalogueRow(line, None, None, f"line {line}: the JSON {exc}"))
            continue
        if not isinstance(document, dict):
            rows.append(CatalogueRow(line, None, None, f"line {line}: not a job file (a JSON object)"))
            continue
        product = document.get("product")
        product_id = product.get("id") if isinstance(product, dict) else None
        if not product_id:
            rows.append(CatalogueRow(line, None, None, f"line {line}: product.id is missing"))
            continue
        rows.append(CatalogueRow(line, str(product_id), document))
    return rows


def catalogue_format(name: str) -> str:
    return JSONL if name.lower().endswith(".jsonl") else CSV


def check_catalogue_head(head: bytes, name: str, *, whole_file: bool) -> None:
    """Refuses a catalogue that cannot run, from its first bytes: not UTF-8, a CSV header without the
    required columns or with unknown ones, or (``whole_file``: the head is all of it) no product."""
    if not whole_file:
        head = head[: head.rfind(b"\n") + 1] or head  # a multi-byte character may be cut at the end
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidJob(f"catalogue {name} is not UTF-8 text") from None
    if catalogue_format(name) == JSONL:
        if whole_file and not text.strip():
            raise InvalidJob(f"catalogue {name} has no products")
        return
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise InvalidJob(f"catalogue {name} has no products")
    _csv_rows(text if whole_file else lines[0] + "\n", name)  # raises for the columns
    if whole_file and not any(line.strip(" ,\t") for line in lines[1:]):
        raise InvalidJob(f"catalogue {name} has no products")
