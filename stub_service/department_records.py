"""The department's records, for testers: list them all and add one through a form.

The form has no CSRF token on purpose: the stub keeps no sessions and no one signs in to it, so a forged
post could do nothing an ordinary one cannot.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from stub_service.record_form import RecordForm, read_record_form
from stub_service.records import RecordBook
from stub_service.services import services

blueprint = Blueprint("department_records", __name__, template_folder="templates")


def _book() -> RecordBook:
    return services().records


@blueprint.get("/records")
def records() -> str:
    everything = _book().all()
    added = request.args.get("added", "")
    added_record = next((record for record in everything if record.reference == added), None)
    return render_template("records.html", records=everything, added=added_record)


@blueprint.route("/records/add", methods=["GET", "POST"])
def add_record() -> Response | str | tuple[str, int]:
    if request.method == "GET":
        return render_template("add_record.html", form=RecordForm(values={}))
    form = read_record_form(request.form, dt.date.today())
    if form.record is None:
        page = render_template("add_record.html", form=form, error_prefix=True)
        return page, 400
    record = _book().add(form.record)
    return redirect(url_for("department_records.records", added=record.reference), code=303)
