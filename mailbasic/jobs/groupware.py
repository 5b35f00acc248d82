"""SOGo's contacts and calendars, as mailbasic reads and deletes them.

The interface relied on is SOGo's documented "combined" table layout (OCSStoreURL,
OCSAclURL, OCSCacheFolderURL and OCSFolderInfoURL in sogo.conf, all in the schema
SOGO_SCHEMA), which SOGo creates and owns:

- sogo_folder_info: one row per folder; c_path1 'Users', c_path2 the owner's login (the
  mailbox's primary address in lower case), c_path4 the folder's name, c_folder_type
  'Contact' (an address book) or 'Appointment' (a calendar, with its tasks);
- sogo_store: the folder's objects (vCards, iCalendars), by c_folder_id;
- sogo_acl: the folder's rights given to others, by c_folder_id;
- sogo_quick_contact, sogo_quick_appointment: the search columns of the objects, by
  c_folder_id;
- sogo_alarms_folder: the e-mail reminders of events (OCSEMailAlarmsFolderURL), by
  c_path, the calendar's c_path in sogo_folder_info (created when first needed);
- sogo_cache_folder: ActiveSync's state, by c_uid (the login) and c_path
  "/DEVICE+vcard/FOLDER", "/DEVICE+vevent/FOLDER" or "/DEVICE+vtodo/FOLDER".

SOGo makes an empty address book and calendar named "personal" again whenever they are
looked for (a login, a CalDAV/CardDAV client): those alone are nothing to delete, or each
run would delete them again. A login's groupware is due when it holds more: an object,
a right given to someone, or another folder.

A folder is deleted as SOGo's own GCSFolderManager deleteFolderAtPath does it in that
mode (its folder_info row, then DELETE ... WHERE c_folder_id from the store, quick and
acl tables), here in the caller's one transaction, with the reminders and cache rows
that name it.
sogo_user_profile (preferences, signature) and sogo_sessions_folder are never touched.
Identifiers are SQLAlchemy's quoted names, values bound parameters."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import (
    ColumnElement,
    TableClause,
    column,
    delete,
    exists,
    func,
    or_,
    select,
    table,
)
from sqlalchemy.orm import Session

from mailbasic.schema.privileges import SOGO_SCHEMA

DEFAULT_FOLDER = "personal"
# SOGo's folder types of the groupware, and the ActiveSync collection prefixes of each.
FOLDER_TYPES = {"Contact": ("vcard",), "Appointment": ("vevent", "vtodo")}

folder_info = table("sogo_folder_info", column("c_folder_id"), column("c_path"),
                    column("c_path1"), column("c_path2"), column("c_path4"),
                    column("c_folder_type"), schema=SOGO_SCHEMA)
store = table("sogo_store", column("c_folder_id"), column("c_deleted"),
              schema=SOGO_SCHEMA)
acl = table("sogo_acl", column("c_folder_id"), schema=SOGO_SCHEMA)
quick_contact = table("sogo_quick_contact", column("c_folder_id"), schema=SOGO_SCHEMA)
quick_appointment = table("sogo_quick_appointment", column("c_folder_id"),
                          schema=SOGO_SCHEMA)
alarms_folder = table("sogo_alarms_folder", column("c_path"), schema=SOGO_SCHEMA)
cache_folder = table("sogo_cache_folder", column("c_uid"), column("c_path"),
                     schema=SOGO_SCHEMA)
# The tables of a folder's content, keyed by c_folder_id.
CONTENT = (store, quick_contact, quick_appointment, acl)
# Without these there is nothing to find (the others are deleted from where they exist).
REQUIRED = frozenset({folder_info.name, store.name, acl.name})


@dataclass(frozen=True)
class Folder:
    id: int
    path: str       # c_path, e.g. "/Users/LOGIN/Calendar/personal"
    name: str       # c_path4, e.g. "personal"
    type: str       # a key of FOLDER_TYPES


def present(session: Session) -> frozenset[str]:
    """The names of SOGo's tables above that exist (none where there is no webmail)."""
    tables = (folder_info, alarms_folder, cache_folder, *CONTENT)
    found = session.execute(select(*(
        func.to_regclass(f"{SOGO_SCHEMA}.{each.name}") for each in tables))).one()
    return frozenset(each.name for each, oid in zip(tables, found, strict=True) if oid)


def _owned_by(login: str) -> ColumnElement[bool]:
    return ((folder_info.c.c_path1 == "Users") & (folder_info.c.c_path2 == login)
            & folder_info.c.c_folder_type.in_(list(FOLDER_TYPES)))


def _holds_data() -> ColumnElement[bool]:
    """The folder is more than the empty "personal" one SOGo makes by itself."""
    return or_(folder_info.c.c_path4 != DEFAULT_FOLDER,
               exists().where(store.c.c_folder_id == folder_info.c.c_folder_id),
               exists().where(acl.c.c_folder_id == folder_info.c.c_folder_id))


def owners(session: Session) -> set[str]:
    """The logins that hold something in their address books or calendars."""
    return set(session.scalars(select(folder_info.c.c_path2).distinct().where(
        folder_info.c.c_path1 == "Users",
        folder_info.c.c_folder_type.in_(list(FOLDER_TYPES)), _holds_data())))


def holds_data(session: Session, login: str) -> bool:
    return bool(session.scalar(select(exists().where(_owned_by(login), _holds_data()))))


def folders(session: Session, login: str) -> tuple[Folder, ...]:
    rows = session.execute(select(folder_info.c.c_folder_id, folder_info.c.c_path,
                                  folder_info.c.c_path4,
                                  folder_info.c.c_folder_type)
                           .where(_owned_by(login)).order_by(folder_info.c.c_folder_id))
    return tuple(Folder(*row) for row in rows)


def count_objects(session: Session, found: Iterable[Folder]) -> int:
    """The contacts, events and tasks in the folders (not those marked deleted, which
    SOGo keeps for its sync clients)."""
    ids = [folder.id for folder in found]
    return session.scalar(select(func.count()).select_from(store).where(
        store.c.c_folder_id.in_(ids), func.coalesce(store.c.c_deleted, 0) == 0)) or 0


def cache_keys(found: Iterable[Folder]) -> list[str]:
    """ActiveSync's names of the folders in c_path, after the device's "/DEVICE+"."""
    return [f"{prefix}/{folder.name}" for folder in found
            for prefix in FOLDER_TYPES[folder.type]]


def delete_folders(session: Session, login: str, found: tuple[Folder, ...],
                   tables: frozenset[str]) -> None:
    """Delete the login's folders `found` (folders(session, login)) with all their rows,
    in the caller's transaction; `tables`: present(session)."""
    ids = [folder.id for folder in found]
    content: tuple[TableClause, ...] = tuple(each for each in CONTENT if each.name in tables)
    for each in content:
        session.execute(delete(each).where(each.c.c_folder_id.in_(ids)))
    if alarms_folder.name in tables:
        session.execute(delete(alarms_folder).where(
            alarms_folder.c.c_path.in_([folder.path for folder in found])))
    if cache_folder.name in tables and found:
        device_key = func.substr(cache_folder.c.c_path,
                                 func.strpos(cache_folder.c.c_path, "+") + 1)
        session.execute(delete(cache_folder).where(
            cache_folder.c.c_uid == login, cache_folder.c.c_path.startswith("/"),
            device_key.in_(cache_keys(found))))
    session.execute(delete(folder_info).where(folder_info.c.c_folder_id.in_(ids),
                                              _owned_by(login)))
