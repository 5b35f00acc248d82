"""Mail client autoconfiguration, without login: Thunderbird's config-v1.1.xml (on the
portal's host and on autoconfig.DOMAIN, whose DNS and certificate the operator points at
the portal) and Outlook's POX autodiscover. Only hosted domains are answered (404
otherwise); what is not an address or a request is a 400 with the reason."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request
from flask.blueprints import BlueprintSetupState

from mailbasic.accounts import get_domain
from mailbasic.errors import NotFound
from mailbasic.portal import autoconfig
from mailbasic.portal.app import db, settings_of

blueprint = Blueprint("autoconfig", __name__)
XML = "application/xml"


@blueprint.record_once
def _exempt_from_csrf(state: BlueprintSetupState) -> None:
    # Outlook POSTs its request without a session or token; nothing here changes state.
    state.app.extensions["csrf"].exempt(blueprint)


@blueprint.route("/.well-known/autoconfig/mail/config-v1.1.xml")
@blueprint.route("/mail/config-v1.1.xml")
def thunderbird() -> Any:
    domain = hosted_domain(thunderbird_domain())
    return Response(autoconfig.thunderbird_config(settings_of(), domain), mimetype=XML)


@blueprint.route("/autodiscover/autodiscover.xml", methods=["POST"])
@blueprint.route("/Autodiscover/Autodiscover.xml", methods=["POST"])
def outlook() -> Any:
    address = autoconfig.requested_address(request.get_data())
    hosted_domain(autoconfig.address_domain(address))
    return Response(autoconfig.outlook_response(settings_of(), address), mimetype=XML)


def thunderbird_domain() -> str:
    """The address Thunderbird sends, else the DOMAIN of the autoconfig.DOMAIN host it
    asked (the address is optional in the protocol)."""
    address = request.args.get("emailaddress")
    if address is not None:
        return autoconfig.address_domain(address)
    return autoconfig.host_domain(request.host)


def hosted_domain(name: str) -> str:
    return get_domain(db(), name).name


@blueprint.errorhandler(autoconfig.InvalidRequest)
def refused(error: autoconfig.InvalidRequest) -> Any:
    return Response(f"{error}\n", status=400, mimetype="text/plain")


@blueprint.errorhandler(NotFound)
def not_hosted(error: NotFound) -> Any:
    return Response(f"{error}\n", status=404, mimetype="text/plain")
