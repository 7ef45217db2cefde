"""Each department's records, for testers: list them all and add one through a form.

The form has no CSRF token on purpose: the stub keeps no sessions and no one signs in to it, so a forged
post could do nothing an ordinary one cannot.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from stub_service.departments import Department
from stub_service.record_form import RecordForm, read_record_form
from stub_service.services import services

blueprint = Blueprint("department_records", __name__, template_folder="templates")


def _department(department: str) -> Department:
    found = services().departments.get(department)
    if found is None:
        abort(404)
    return found


@blueprint.get("/records")
def departments() -> str:
    """Which departments this app plays, each with a link to its records."""
    return render_template("departments.html", departments=list(services().departments.values()))


@blueprint.get("/<department>/records")
def records(department: str) -> str:
    own = _department(department)
    everything = own.records.all()
    added = request.args.get("added", "")
    added_record = next((record for record in everything if record.reference == added), None)
    labels = list(dict.fromkeys(label for record in everything for label in record.details))
    forgotten = request.args.get("forgotten", "")
    return render_template(
        "records.html",
        department=own,
        records=everything,
        added=added_record,
        labels=labels,
        forgotten=int(forgotten) if forgotten.isdigit() else None,
    )


@blueprint.route("/<department>/records/add", methods=["GET", "POST"])
def add_record(department: str) -> Response | str | tuple[str, int]:
    own = _department(department)
    if request.method == "GET":
        return render_template("add_record.html", department=own, form=RecordForm(values={}))
    form = read_record_form(request.form, dt.date.today())
    if form.record is None:
        page = render_template("add_record.html", department=own, form=form, error_prefix=True)
        return page, 400
    record = own.records.add(form.record)
    return redirect(url_for("department_records.records", department=own.id, added=record.reference), code=303)


@blueprint.post("/<department>/records/forget-added")
def forget_added(department: str) -> Response:
    """Forget the records added since start (accounts made by test journeys among them): the seeded ones stay."""
    own = _department(department)
    forgotten = own.records.forget_added()
    return redirect(url_for("department_records.records", department=own.id, forgotten=forgotten), code=303)
