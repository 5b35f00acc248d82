"""A mailbox's filters: the list (as sentences and as Sieve), the form editor for the
common cases, deleting one, Sieve import and export, and the dry run. Every change goes
through rules/service.py, so the same Sieve parser as the CLI's checks it. The dry run
is dry_run.py."""

from __future__ import annotations

import hashlib
from typing import Any

from flask import Blueprint, Response, flash, redirect, url_for
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # newer than types-WTForms
from wtforms.validators import NumberRange, Optional, Regexp

from mailbasic.portal.app import db
from mailbasic.portal.filter_text import command_sentence
from mailbasic.portal.views.common import login_required
from mailbasic.portal.views.rules import change, failed, mailbox_page, own_mailbox
from mailbasic.rules import model, service, sieve
from mailbasic.schema import Mailbox
from mailbasic.schema.rules import ADDRESS_PATTERN

blueprint = Blueprint("filters", __name__)


# --- the list -----------------------------------------------------------------------------


class ImportForm(FlaskForm):
    script = TextAreaField(lazy_gettext("Sieve script"))
    upload = FileField(lazy_gettext("or a file"))


class VersionForm(FlaskForm):
    """The filters the customer saw: a deletion meant for them is refused on others (say,
    changed in a second window meanwhile), instead of deleting another rule."""
    version = HiddenField()


def version_of(script: model.Script) -> str:
    return hashlib.sha256(sieve.render(script).encode()).hexdigest()[:16]


@blueprint.route("/mailboxes/<int:mailbox_id>/filters")
@login_required
def filters(mailbox_id: int) -> Any:
    mailbox = own_mailbox(mailbox_id)
    return filters_page(mailbox, ImportForm())


def filters_page(mailbox: Mailbox, form: Any, status: int = 200) -> Any:
    script = service.filters_of(db(), mailbox.name)
    rules = [(number, command_sentence(command), sieve.render(model.Script((command,))))
             for number, command in enumerate(script.commands, start=1)]
    delete = VersionForm(data={"version": version_of(script)})
    return mailbox_page("filters.html", mailbox, status, form=form, rules=rules,
                        script=sieve.render(script), delete=delete)


@blueprint.route("/mailboxes/<int:mailbox_id>/filters/<int:number>/delete", methods=["POST"])
@login_required
def delete_filter(mailbox_id: int, number: int) -> Any:
    mailbox = own_mailbox(mailbox_id)
    script = service.filters_of(db(), mailbox.name)
    form = VersionForm()
    if not form.validate_on_submit():
        return filters_page(mailbox, ImportForm(), 400)
    if form.version.data != version_of(script) or not 1 <= number <= len(script.commands):
        flash(gettext("Your filters were changed meanwhile: please look at them again."),
              "error")
        return redirect(url_for("filters.filters", mailbox_id=mailbox.id))
    kept = model.Script(script.commands[:number - 1] + script.commands[number:])
    removed = sieve.render(model.Script((script.commands[number - 1],)))
    change(mailbox, "filter removed",
           lambda: service.set_filters(db(), mailbox.name, sieve.render(kept)),
           lazy_gettext("The filter is removed."), number=number, sieve=removed)
    return redirect(url_for("filters.filters", mailbox_id=mailbox.id))


@blueprint.route("/mailboxes/<int:mailbox_id>/filters/import", methods=["POST"])
@login_required
def import_filters(mailbox_id: int) -> Any:
    mailbox = own_mailbox(mailbox_id)
    form = ImportForm()
    if form.validate_on_submit():
        text = _script_text(form)
        if text is not None and change(
                mailbox, "filters imported",
                lambda: service.set_filters(db(), mailbox.name, text),
                lazy_gettext("The filters are replaced by the script."), sieve=text):
            return redirect(url_for("filters.filters", mailbox_id=mailbox.id))
    return filters_page(mailbox, form, 400)


def _script_text(form: Any) -> str | None:
    """The uploaded file, else the pasted text; None (with the form's error) if neither."""
    if form.upload.data:
        try:
            return str(form.upload.data.read().decode("utf-8"))
        except UnicodeDecodeError:
            form.upload.errors.append(gettext("The file is not UTF-8 text."))
            return None
    if not (form.script.data or "").strip():
        form.script.errors.append(gettext("Paste a Sieve script or choose a file."))
        return None
    return str(form.script.data)


@blueprint.route("/mailboxes/<int:mailbox_id>/filters/export")
@login_required
def export_filters(mailbox_id: int) -> Response:
    mailbox = own_mailbox(mailbox_id)
    text = sieve.render(service.filters_of(db(), mailbox.name))
    return Response(text, mimetype="text/plain", headers={
        "Content-Disposition": f'attachment; filename="{mailbox.name}.sieve"'})


# --- the form editor ------------------------------------------------------------------------

CONDITIONS = (
    SelectChoice("from", lazy_gettext("the sender's address (From)")),
    SelectChoice("to", lazy_gettext("the recipient's address (To)")),
    SelectChoice("subject", lazy_gettext("the subject")),
    SelectChoice("header", lazy_gettext("another header, named below")),
    SelectChoice("body", lazy_gettext("the text")),
    SelectChoice("size", lazy_gettext("the size is over")),
)
MATCHES = (
    SelectChoice("contains", lazy_gettext("contains")),
    SelectChoice("is", lazy_gettext("is")),
    SelectChoice("matches", lazy_gettext("matches (* any text, ? one character)")),
)
ACTIONS = (
    SelectChoice("fileinto", lazy_gettext("file it into a folder")),
    SelectChoice("redirect", lazy_gettext("forward it to an address")),
    SelectChoice("discard", lazy_gettext("discard it")),
    SelectChoice("vacation", lazy_gettext("reply with a vacation message")),
)
HEADER_NAME = r"^[!-9;-~]+$"  # as Sieve: printable ASCII without the colon


class FilterForm(FlaskForm):
    condition = SelectField(lazy_gettext("If"), choices=CONDITIONS)
    header = StringField(lazy_gettext("Header name"), validators=[Optional(), Regexp(
        HEADER_NAME, message=lazy_gettext("A header name has no spaces and no colon."))])
    match = SelectField(lazy_gettext("Comparison"), choices=MATCHES)
    value = StringField(lazy_gettext("Value"))
    size_kb = IntegerField(lazy_gettext("Size in KB"),
                           validators=[Optional(), NumberRange(min=1, max=1024 * 1024)])
    action = SelectField(lazy_gettext("Then"), choices=ACTIONS)
    folder = StringField(lazy_gettext("Folder"))
    address = StringField(lazy_gettext("Forward to"), validators=[Optional(), Regexp(
        ADDRESS_PATTERN, message=lazy_gettext("Give an address: name@domain."))])
    copy = BooleanField(lazy_gettext("Keep it in the inbox as well"))
    reply_subject = StringField(lazy_gettext("Subject of the reply (empty: \"Auto:\" and "
                                             "the original subject)"))
    reply_text = TextAreaField(lazy_gettext("Text of the reply"))
    reply_days = IntegerField(lazy_gettext("Days between two replies to one sender"),
                              default=7, validators=[Optional(), NumberRange(min=1, max=365)])

    def validate(self, extra_validators: Any = None) -> bool:
        valid: bool = super().validate(extra_validators)
        for field in self.needed():
            if field.data is None or str(field.data).strip() == "":
                field.errors.append(gettext("Needed for your choice."))
                valid = False
        return valid

    def needed(self) -> list[Any]:
        """The fields the chosen condition and action need."""
        by_condition: dict[str, list[Any]] = {"size": [self.size_kb],
                                              "header": [self.header, self.value]}
        by_action: dict[str, list[Any]] = {"fileinto": [self.folder],
                                           "redirect": [self.address],
                                           "vacation": [self.reply_text]}
        return (by_condition.get(self.condition.data, [self.value])
                + by_action.get(self.action.data, []))


def built_rule(form: FilterForm) -> model.If:
    """The filter the form describes, as the model the Sieve renderer writes."""
    return model.If(((_test(form), (_action(form),)),))


def _test(form: FilterForm) -> model.Test:
    condition, value = form.condition.data, form.value.data or ""
    match: model.MatchType = "is" if form.match.data == "is" else (
        "matches" if form.match.data == "matches" else "contains")
    if condition == "size":
        return model.SizeTest(over=True, limit=(form.size_kb.data or 0) * 1024)
    if condition == "body":
        return model.BodyTest((value,), match)
    if condition in ("from", "to"):   # the address, whatever display name it carries
        return model.AddressTest((condition,), (value,), match)
    name = (form.header.data or "").strip() if condition == "header" else "subject"
    return model.HeaderTest((name,), (value,), match)


def _action(form: FilterForm) -> model.Command:
    if form.action.data == "fileinto":
        return model.FileInto((form.folder.data or "").strip(), bool(form.copy.data))
    if form.action.data == "redirect":
        return model.Redirect((form.address.data or "").strip(), bool(form.copy.data))
    if form.action.data == "vacation":
        text = (form.reply_text.data or "").replace("\r\n", "\n")
        return model.Vacation(text, form.reply_days.data or 7, form.reply_subject.data or "")
    return model.Discard()


@blueprint.route("/mailboxes/<int:mailbox_id>/filters/new", methods=["GET", "POST"])
@login_required
def new_filter(mailbox_id: int) -> Any:
    mailbox = own_mailbox(mailbox_id)
    form = FilterForm()
    if form.validate_on_submit():
        rule = built_rule(form)
        if change(mailbox, "filter added", lambda: service.add_filter(db(), mailbox.name, rule),
                  lazy_gettext("The filter is added."),
                  sieve=sieve.render(model.Script((rule,)))):
            return redirect(url_for("filters.filters", mailbox_id=mailbox.id))
    return mailbox_page("filter_edit.html", mailbox, failed(), form=form)

