# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE to the crashkit.kdump collection. It may change without notice.
"""Domain errors shared by every pure-logic helper of the collection.

Pure helpers raise these; modules turn them into ``fail_json`` in exactly one place
(``_module.domain_errors``). Nothing here imports Ansible.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type


class KdumpError(Exception):
    """Base class: a message written for the operator, no traceback needed."""


class ParseError(KdumpError, ValueError):
    """Input text (a command line, a config file, a log) could not be understood."""


class ValidationError(KdumpError, ValueError):
    """Options are individually valid but not acceptable together or on this host."""


class HostError(KdumpError):
    """The host is not in a state the operation can work with (missing file, tool, ...)."""
