"""Render docs/reference/ from the collection's own documentation (never copied by hand).

    .venv/bin/python tools/gen_reference.py            # (re)write docs/reference/
    .venv/bin/python tools/gen_reference.py --check    # exit 1 and list stale files

Sources:

* every module in ``plugins/modules/*.py`` and every filter/test/lookup/... plugin that
  ``ansible-doc -l`` lists for the collection: their DOCUMENTATION, EXAMPLES and RETURN as
  ``ansible-doc --json`` returns them, so doc fragments (``extends_documentation_fragment``) are
  resolved exactly as Ansible resolves them;
* every role's ``meta/argument_specs.yml``, with the values of ``defaults/main.yml`` (the values a
  play really gets: Ansible takes role defaults from there, the spec's ``default`` is documentation)
  and ``meta/main.yml`` (platforms);
* the header comments of ``playbooks/*.yml``.

Ansible markup (``C() I() B() U() L() M() O() V() RV() E() P()``) becomes Markdown. The output is
deterministic: the same sources give byte-identical files, so ``--check`` (run by
``tests/unit/test_reference_docs.py``) fails when someone changes documentation without
regenerating. ``ansible-doc`` runs against this checkout through the same symlink tree the
tests use (``.tmp/collections/ansible_collections/crashkit/kdump``).
"""
import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAMESPACE, NAME = "crashkit", "kdump"
COLLECTION = NAMESPACE + "." + NAME
REF_DIR = os.path.join("docs", "reference")
TREE = os.path.join(ROOT, ".tmp", "collections")
GENERATOR = "tools/gen_reference.py"

# plugins/<dir> -> ansible-doc plugin type, output sub-directory of docs/reference/
OTHER_PLUGIN_TYPES = [
    ("filter", "filter", "filters"),
    ("test", "test", "tests"),
    ("lookup", "lookup", "lookups"),
    ("inventory", "inventory", "inventory"),
    ("callback", "callback", "callbacks"),
    ("connection", "connection", "connections"),
    ("become", "become", "become"),
    ("cache", "cache", "cache"),
    ("vars", "vars", "vars"),
    ("strategy", "strategy", "strategies"),
]
TYPE_DIRS = {"module": "modules", "role": "roles"}
TYPE_DIRS.update({ptype: out for _d, ptype, out in OTHER_PLUGIN_TYPES})
BUILTIN_DOCS = "https://docs.ansible.com/ansible/latest/collections/%s/%s/%s_%s.html"


class GenError(Exception):
    """A source the generator cannot render."""


# --------------------------------------------------------------------------- ansible-doc


def find_ansible_doc():
    """ansible-doc next to this Python (the venv's), else on PATH; None when there is none."""
    here = os.path.join(os.path.dirname(sys.executable), "ansible-doc")
    if os.access(here, os.X_OK):
        return here
    return shutil.which("ansible-doc")


def collection_tree():
    """The symlink tree that makes this checkout the collection crashkit.kdump (as conftest.py)."""
    link = os.path.join(TREE, "ansible_collections", NAMESPACE, NAME)
    if not os.path.lexists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        try:
            os.symlink(ROOT, link)
        except FileExistsError:
            pass
    if os.path.realpath(link) != os.path.realpath(ROOT):
        raise GenError("%s does not point at %s" % (link, ROOT))
    return TREE


def run_ansible_doc(ansible_doc, args):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collection_tree(), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="False",
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_DEPRECATION_WARNINGS="False")
    env.pop("ANSIBLE_CONFIG", None)
    proc = subprocess.run([ansible_doc] + args, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise GenError("ansible-doc %s failed (%d):\n%s%s" % (" ".join(args), proc.returncode, proc.stdout,
                                                              proc.stderr))
    try:
        return json.loads(proc.stdout)
    except ValueError as exc:
        raise GenError("ansible-doc %s: no JSON (%s):\n%s" % (" ".join(args), exc, proc.stdout[:2000]))


def module_names():
    names = []
    for path in glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py")):
        base = os.path.basename(path)[:-3]
        if not base.startswith("_"):
            names.append(base)
    return sorted(names)


def plugin_docs(ansible_doc):
    """{ptype: {short name: ansible-doc JSON entry}} for modules and the other plugin types."""
    docs = {}
    names = module_names()
    if names:
        data = run_ansible_doc(ansible_doc, ["--json", "-t", "module"] + ["%s.%s" % (COLLECTION, n) for n in names])
        docs["module"] = {n: data["%s.%s" % (COLLECTION, n)] for n in names}
        missing = [n for n in names if not docs["module"][n].get("doc")]
        if missing:
            raise GenError("ansible-doc returned no documentation for module(s): %s" % ", ".join(missing))
    for pdir, ptype, _out in OTHER_PLUGIN_TYPES:
        files = [f for f in glob.glob(os.path.join(ROOT, "plugins", pdir, "*")) if not
                 os.path.basename(f).startswith(("_", "."))]
        if not files:
            continue
        listed = run_ansible_doc(ansible_doc, ["--json", "-t", ptype, "-l", COLLECTION])
        fqcns = sorted(n for n in listed if n.startswith(COLLECTION + "."))
        if not fqcns:
            continue
        data = run_ansible_doc(ansible_doc, ["--json", "-t", ptype] + fqcns)
        docs[ptype] = {f[len(COLLECTION) + 1:]: data[f] for f in fqcns}
    return docs


# --------------------------------------------------------------------------- markup

_CMD = re.compile(r"\b(RV|HORIZONTALLINE|[CIBUMLOVEP])(\()?")
_NEW_STYLE = {"O", "V", "RV", "E", "P"}
_SPECIAL = re.compile(r"([\\`*\[\]<>|#])")
_LONE_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def md_text(text):
    """Plain text for Markdown: no accidental emphasis, code, links, HTML or table cells."""
    text = text.replace("&", "&amp;")
    text = _SPECIAL.sub(r"\\\1", text)
    return _LONE_UNDERSCORE.sub(r"\\_", text)


def md_code(text, table=False):
    """An inline code span (GFM table cells need | escaped even inside code)."""
    text = str(text).replace("\n", " ")
    if table:
        text = text.replace("|", "\\|")
    if "`" not in text:
        return "`%s`" % text
    fence = "``"
    while fence in text:
        fence += "`"
    return "%s %s %s" % (fence, text, fence)


class Context:
    """Where rendered text goes: which plugin it documents and where that file lives."""

    def __init__(self, ptype, name, known, entry_point=None):
        self.ptype = ptype                # module, filter, role, ...
        self.name = name                  # short name
        self.known = known                # {ptype: set(short names)} documented in this run
        self.entry_point = entry_point    # roles only

    def link_to(self, ptype, name, anchor=""):
        """Relative link from this context's file to another reference page, or None."""
        if name not in self.known.get(ptype, ()):
            return None
        target = "%s.md" % name
        if ptype != self.ptype:
            target = "../%s/%s" % (TYPE_DIRS[ptype], target)
        elif name == self.name:
            target = ""
        return target + ("#" + anchor if anchor else "") or "#"


def _split_ref(ref):
    """'crashkit.kdump.x#module:opt.sub' -> ('crashkit.kdump.x', 'module', 'opt.sub'); plain 'opt' -> (None, None, 'opt')."""
    if "#" in ref:
        plugin, rest = ref.split("#", 1)
        ptype, _sep, name = rest.partition(":")
        return plugin.strip(), ptype.strip(), name
    return None, None, ref


def option_anchor(kind, dotted, entry_point=None):
    base = "%s-%s" % ("parameter" if kind == "O" else "return", re.sub(r"\[[^\]]*\]", "", dotted))
    if entry_point and entry_point != "main":
        base = "%s--%s" % (entry_point, base)
    return base


def _plugin_link(ctx, fqcn, ptype, anchor=""):
    if fqcn.startswith(COLLECTION + "."):
        return ctx.link_to(ptype, fqcn[len(COLLECTION) + 1:], anchor)
    parts = fqcn.split(".")
    builtin_types = ("module", "filter", "test", "lookup")
    if len(parts) == 3 and parts[0] == "ansible" and parts[1] == "builtin" and ptype in builtin_types:
        return BUILTIN_DOCS % (parts[0], parts[1], parts[2], ptype) + ("#" + anchor if anchor else "")
    return None


def _ref_markup(ctx, kind, arg, table):
    """O(), RV(): option or return value, optionally of another plugin."""
    fqcn, ptype, name = _split_ref(arg)
    value = None
    if kind == "O" and "=" in name:
        name, value = name.split("=", 1)
    shown = md_code(name if value is None else "%s=%s" % (name, value), table)
    key = name.split("=", 1)[0]
    if fqcn is None:
        anchor = option_anchor(kind, key, ctx.entry_point)
        return "[%s](#%s)" % (shown, anchor)
    if ptype == "role":
        entry, _sep, key = key.partition(":")
        link = _plugin_link(ctx, fqcn, "role", option_anchor(kind, key, entry))
    else:
        link = _plugin_link(ctx, fqcn, ptype or "module", option_anchor(kind, key))
    if link is None:
        return "%s (%s)" % (shown, md_code(fqcn, table))
    return "[%s](%s)" % (shown, link)


def _end_of_arg(text, start, new_style):
    """Index of the closing parenthesis of a markup argument starting at ``start``."""
    i = start
    while i < len(text):
        char = text[i]
        if new_style and char == "\\" and i + 1 < len(text):
            i += 2
            continue
        if char == ")":
            return i
        i += 1
    return -1


def _unescape(arg):
    return re.sub(r"\\(.)", r"\1", arg)


def markup(text, ctx, table=False):
    """Ansible documentation markup -> Markdown (one paragraph)."""
    if text is None:
        return ""
    text = str(text)
    out = []
    pos = 0
    while True:
        match = _CMD.search(text, pos)
        if not match:
            break
        kind = match.group(1)
        if kind == "HORIZONTALLINE":
            out.append(md_text(text[pos:match.start()]))
            out.append(" " if table else "\n\n---\n\n")
            pos = match.end(1)
            continue
        if not match.group(2):
            out.append(md_text(text[pos:match.end()]))
            pos = match.end()
            continue
        end = _end_of_arg(text, match.end(), kind in _NEW_STYLE)
        if end < 0:
            out.append(md_text(text[pos:match.end()]))
            pos = match.end()
            continue
        out.append(md_text(text[pos:match.start()]))
        arg = text[match.end():end]
        if kind in _NEW_STYLE:
            arg = _unescape(arg)
        out.append(_one_markup(ctx, kind, arg, table))
        pos = end + 1
    out.append(md_text(text[pos:]))
    return "".join(out)


def _one_markup(ctx, kind, arg, table):
    if kind in ("C", "V", "E"):
        return md_code(arg, table)
    if kind == "I":
        return "*%s*" % md_text(arg)
    if kind == "B":
        return "**%s**" % md_text(arg)
    if kind == "U":
        return "<%s>" % arg
    if kind == "L":
        label, _sep, url = arg.rpartition(",")
        return "[%s](%s)" % (md_text(label.strip()), url.strip())
    if kind == "M":
        link = _plugin_link(ctx, arg.strip(), "module")
        return "[%s](%s)" % (md_code(arg.strip(), table), link) if link else md_code(arg.strip(), table)
    if kind == "P":
        fqcn, _sep, ptype = arg.partition("#")
        link = _plugin_link(ctx, fqcn.strip(), ptype.strip() or "module")
        return "[%s](%s)" % (md_code(fqcn.strip(), table), link) if link else md_code(fqcn.strip(), table)
    return _ref_markup(ctx, kind, arg, table)


def paragraphs(value):
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [str(value)]


def cell(value, ctx):
    """A description (string or list of paragraphs) as one table cell."""
    return "<br><br>".join(markup(p, ctx, table=True) for p in paragraphs(value))


def yaml_value(value):
    """A value as YAML would be written inline (true, 3, /var/crash, {type: local})."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return '""' if value == "" else value
    return json.dumps(value, sort_keys=True, separators=(", ", ": "))


def value_code(value):
    return md_code(yaml_value(value), table=True)


def table(header, rows):
    lines = ["| %s |" % " | ".join(header), "|" + "---|" * len(header)]
    for row in rows:
        lines.append("| %s |" % " | ".join(c if c else " " for c in row))
    return "\n".join(lines)


# --------------------------------------------------------------------------- options / returns


def type_text(spec):
    kind = spec.get("type", "")
    if kind == "list" and spec.get("elements"):
        return "list of %s" % spec["elements"]
    return kind or ""


def flatten_options(options, prefix=""):
    """[(dotted name, spec)] in the given order, sub-options after their parent."""
    rows = []
    for name, spec in options.items():
        spec = spec or {}
        dotted = prefix + name
        rows.append((dotted, spec))
        subs = spec.get("suboptions") or spec.get("options")
        if subs:
            sub_prefix = dotted + ("[]." if spec.get("type") == "list" else ".")
            rows.extend(flatten_options(subs, sub_prefix))
    return rows


def options_table(options, ctx, defaults=None, sort=True):
    """Parameters table; ``defaults``: role defaults/main.yml (the values a play gets)."""
    if sort:
        options = dict(sorted(options.items()))
    rows = []
    for dotted, spec in flatten_options(options):
        anchor = option_anchor("O", dotted, ctx.entry_point)
        name = '<a id="%s"></a>%s' % (anchor, md_code(dotted, True))
        aliases = spec.get("aliases")
        if aliases:
            name += "<br>aliases: %s" % ", ".join(md_code(a, True) for a in aliases)
        if spec.get("version_added") and str(spec["version_added"]) != "historical":
            name += "<br>added in %s" % md_text(str(spec["version_added"]))
        default = ""
        if defaults is not None and "." not in dotted and "[]" not in dotted and dotted in defaults:
            default = value_code(defaults[dotted])
        elif "default" in spec and spec["default"] is not None:
            default = value_code(spec["default"])
        choices = ""
        if spec.get("choices"):
            choices = "<br>".join(value_code(c) for c in spec["choices"])
        rows.append([name, md_text(type_text(spec)), "yes" if spec.get("required") else "",
                     default, choices, cell(spec.get("description"), ctx)])
    return table(["Parameter", "Type", "Required", "Default", "Choices", "Description"], rows)


def flatten_returns(returns, prefix=""):
    rows = []
    for name, spec in sorted(returns.items()):
        spec = spec or {}
        dotted = prefix + name
        rows.append((dotted, spec))
        if spec.get("contains"):
            sub_prefix = dotted + ("[]." if spec.get("type") == "list" else ".")
            rows.extend(flatten_returns(spec["contains"], sub_prefix))
    return rows


SHORT_SAMPLE = 70


def returns_section(returns, ctx):
    rows = []
    samples = []
    for dotted, spec in flatten_returns(returns):
        anchor = option_anchor("RV", dotted)
        desc = cell(spec.get("description"), ctx)
        if "sample" in spec:
            text = json.dumps(spec["sample"], sort_keys=True)
            if len(text) <= SHORT_SAMPLE and "\n" not in text and "  " not in text:
                desc += "<br><br>Sample: %s" % md_code(text, True)
            else:
                desc += "<br><br>Sample: [below](#sample-%s)" % anchor[len("return-"):]
                samples.append((dotted, anchor, spec["sample"]))
        rows.append(['<a id="%s"></a>%s' % (anchor, md_code(dotted, True)), md_text(type_text(spec)),
                     cell(spec.get("returned"), ctx), desc])
    out = [table(["Key", "Type", "Returned", "Description"], rows)]
    for dotted, anchor, sample in samples:
        out.append('<a id="sample-%s"></a>Sample of %s:\n\n```json\n%s\n```' % (
            anchor[len("return-"):], md_code(dotted), json.dumps(sample, indent=2, sort_keys=True)))
    return "\n\n".join(out)


def bullets(value, ctx):
    return "\n".join("- %s" % markup(p, ctx) for p in paragraphs(value))


def header(source):
    return ("<!-- Generated by %s from %s. Do not edit: change the source and run "
            "`.venv/bin/python %s`. -->\n" % (GENERATOR, source, GENERATOR))


# --------------------------------------------------------------------------- pages


def seealso_lines(items, ctx):
    lines = []
    for item in items or []:
        desc = markup(item.get("description"), ctx) if item.get("description") else ""
        if "module" in item or "plugin" in item:
            fqcn = item.get("module") or item.get("plugin")
            ptype = "module" if "module" in item else item.get("plugin_type", "module")
            link = _plugin_link(ctx, fqcn, ptype)
            text = "[%s](%s)" % (md_code(fqcn), link) if link else md_code(fqcn)
        elif "link" in item:
            text = "[%s](%s)" % (md_text(item.get("name", item["link"])), item["link"])
        elif "ref" in item:
            text = md_text("%s (Ansible documentation reference %s)" % (item.get("name", ""), item["ref"]))
        else:
            continue
        lines.append("- %s%s" % (text, " - " + desc if desc else ""))
    return "\n".join(lines)


def plugin_page(ptype, name, entry, ctx):
    doc = entry["doc"]
    fqcn = "%s.%s" % (COLLECTION, name)
    filename = os.path.relpath(os.path.realpath(doc["filename"]), ROOT) if doc.get("filename") else ""
    parts = [header(filename or fqcn), "# %s" % fqcn, "", markup(doc.get("short_description", ""), ctx), ""]
    label = {"module": "module", "filter": "filter plugin", "test": "test plugin"}.get(ptype, ptype + " plugin")
    meta = ["%s `%s`" % (label.capitalize(), fqcn)]
    if doc.get("version_added"):
        meta.append("added in %s %s" % (md_text(doc.get("version_added_collection") or COLLECTION),
                                        md_text(str(doc["version_added"]))))
    parts += ["%s." % ", ".join(meta), ""]
    if ptype == "module":
        parts += ["```sh", "ansible-doc %s" % fqcn, "```", ""]
    else:
        parts += ["```sh", "ansible-doc -t %s %s" % (ptype, fqcn), "```", ""]
    parts += ["## Synopsis", "", bullets(doc.get("description"), ctx), ""]
    if doc.get("requirements"):
        parts += ["## Requirements", "", bullets(doc["requirements"], ctx), ""]
    options = dict(doc.get("options") or {})
    if ptype in ("filter", "test") and options:
        parts += plugin_input_section(options, doc, ctx)
    if options:
        parts += ["## Parameters" if ptype == "module" else "## Keyword parameters", "",
                  options_table(options, ctx), ""]
    if doc.get("attributes"):
        rows = []
        for attr, spec in sorted(doc["attributes"].items()):
            desc = cell(spec.get("description"), ctx)
            if spec.get("details"):
                desc += "<br><br>" + cell(spec["details"], ctx)
            rows.append([md_code(attr, True), md_text(str(spec.get("support", ""))), desc])
        parts += ["## Attributes", "", table(["Attribute", "Support", "Description"], rows), ""]
    if doc.get("notes"):
        parts += ["## Notes", "", bullets(doc["notes"], ctx), ""]
    if doc.get("seealso"):
        parts += ["## See also", "", seealso_lines(doc["seealso"], ctx), ""]
    if entry.get("examples"):
        parts += ["## Examples", "", "```yaml", entry["examples"].strip("\n"), "```", ""]
    if entry.get("return"):
        parts += ["## Return values" if ptype == "module" else "## Return value", "",
                  returns_section(entry["return"], ctx), ""]
    if doc.get("author"):
        parts += ["## Authors", "", "\n".join("- %s" % md_text(a) for a in paragraphs(doc["author"])), ""]
    return "\n".join(parts).rstrip("\n") + "\n"


def plugin_input_section(options, doc, ctx):
    """Filters/tests: the piped input and the positional parameters, taken out of ``options``."""
    parts = []
    if "_input" in options:
        spec = options.pop("_input")
        parts += ["## Input", "", "%s%s." % (md_text(type_text(spec) or "any"), ", required" if spec.get(
            "required") else ""), "", bullets(spec.get("description"), ctx), ""]
    positional = [p.strip() for p in str(doc.get("positional") or "").split(",") if p.strip()]
    if positional:
        parts += ["## Positional parameters", "",
                  "In this order: %s." % ", ".join(md_code(p) for p in positional), ""]
        pos_opts = {p: options.pop(p) for p in positional if p in options}
        parts += [options_table(pos_opts, ctx, sort=False), ""]
    return parts


def load_yaml(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def role_names():
    return sorted(os.path.basename(os.path.dirname(os.path.dirname(p)))
                  for p in glob.glob(os.path.join(ROOT, "roles", "*", "meta", "argument_specs.yml")))


def playbooks_using(role):
    pattern = re.compile(r"\b%s\.%s\b" % (re.escape(COLLECTION), re.escape(role)))
    found = []
    for path in sorted(glob.glob(os.path.join(ROOT, "playbooks", "*.yml"))):
        with open(path, encoding="utf-8") as handle:
            if pattern.search(handle.read()):
                found.append(os.path.relpath(path, ROOT))
    return found


def role_page(role, known, warnings):
    base = os.path.join(ROOT, "roles", role)
    specs = (load_yaml(os.path.join(base, "meta", "argument_specs.yml")) or {}).get("argument_specs") or {}
    defaults_path = os.path.join(base, "defaults", "main.yml")
    defaults = load_yaml(defaults_path) if os.path.exists(defaults_path) else {}
    defaults = defaults or {}
    meta_path = os.path.join(base, "meta", "main.yml")
    meta = (load_yaml(meta_path) or {}) if os.path.exists(meta_path) else {}
    info = meta.get("galaxy_info") or {}
    fqcn = "%s.%s" % (COLLECTION, role)
    sources = "roles/%s/meta/argument_specs.yml, defaults/main.yml and meta/main.yml" % role
    parts = [header(sources), "# %s (role)" % fqcn, ""]
    ctx = Context("role", role, known, "main")
    if info.get("description"):
        parts += [markup(info["description"], ctx), ""]
    use = ["```yaml", "- hosts: all", "  roles:", "    - role: %s" % fqcn, "```"]
    parts += use + [""]
    facts = []
    if info.get("min_ansible_version"):
        facts.append("Minimum Ansible: %s" % md_text(str(info["min_ansible_version"])))
    for platform in info.get("platforms") or []:
        facts.append("Platform: %s %s" % (md_text(str(platform.get("name", ""))),
                                          ", ".join(md_text(str(v)) for v in platform.get("versions") or [])))
    if meta.get("dependencies"):
        facts.append("Dependencies: %s" % ", ".join(md_code(json.dumps(d, sort_keys=True) if not isinstance(
            d, str) else d) for d in meta["dependencies"]))
    books = playbooks_using(role)
    if books:
        facts.append("Used by: %s" % ", ".join(md_code(b) for b in books))
    if facts:
        parts += ["\n".join("- %s" % f for f in facts), ""]
    for entry_point in sorted(specs, key=lambda e: (e != "main", e)):
        spec = specs[entry_point] or {}
        ctx = Context("role", role, known, entry_point)
        title = "Entry point `%s`" % entry_point
        parts += ["## %s" % title, ""]
        if entry_point != "main":
            parts += ["`tasks_from: %s`" % entry_point, ""]
        if spec.get("short_description"):
            parts += [markup(spec["short_description"], ctx), ""]
        if spec.get("description"):
            parts += [bullets(spec["description"], ctx), ""]
        options = spec.get("options") or {}
        if options:
            use_defaults = defaults if entry_point == "main" else None
            parts += ["### Variables", "",
                      "Default: the value in `roles/%s/defaults/main.yml` (what a play gets)%s." % (
                          role, "" if entry_point == "main" else "; entry point without its own defaults file"),
                      "", options_table(options, ctx, defaults=use_defaults, sort=False), ""]
            for name, ospec in options.items():
                if entry_point == "main" and name in defaults and "default" in (ospec or {}):
                    if ospec["default"] != defaults[name]:
                        warnings.append("roles/%s: %s: argument_specs default %r != defaults/main.yml %r" % (
                            role, name, ospec["default"], defaults[name]))
        if spec.get("notes"):
            parts += ["### Notes", "", bullets(spec["notes"], ctx), ""]
    documented = set()
    for spec in specs.values():
        documented.update((spec or {}).get("options") or {})
    extra = sorted(k for k in defaults if k not in documented)
    if extra:
        warnings.append("roles/%s: defaults/main.yml variables not in argument_specs.yml: %s" % (role, ", ".join(extra)))
        parts += ["## Variables in defaults/main.yml without an argument spec", "",
                  "\n".join("- %s: %s" % (md_code(k), value_code(defaults[k])) for k in extra), ""]
    return "\n".join(parts).rstrip("\n") + "\n"


def playbook_entries():
    """[(stem, header comment lines, hosts expression)] of playbooks/*.yml."""
    entries = []
    for path in sorted(glob.glob(os.path.join(ROOT, "playbooks", "*.yml"))):
        comments = []
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("---"):
                    continue
                if not line.startswith("#"):
                    break
                comments.append(line[1:].strip())
        plays = load_yaml(path) or []
        hosts = [str(p.get("hosts", "")) for p in plays if isinstance(p, dict) and "hosts" in p]
        entries.append((os.path.basename(path)[:-4], comments, hosts))
    return entries


def index_page(docs, roles, role_descs, known):
    ctx = Context("index", "", known)
    parts = [header("plugins/, roles/ and playbooks/"), "# crashkit.kdump reference", "",
             "Generated from the collection's own documentation: the modules' and plugins' `DOCUMENTATION`, "
             "`EXAMPLES` and `RETURN` (as `ansible-doc --json` resolves them, doc fragments included), the "
             "roles' `meta/argument_specs.yml` with their `defaults/main.yml`, and the playbooks' header "
             "comments. Regenerate with `.venv/bin/python %s`; `--check` (run by the unit tests) lists "
             "stale files." % GENERATOR, ""]

    def link(ptype, name):
        return "[%s](%s/%s.md)" % (md_code("%s.%s" % (COLLECTION, name), True), TYPE_DIRS[ptype], name)

    if docs.get("module"):
        rows = [[link("module", n), markup(docs["module"][n]["doc"].get("short_description", ""), ctx, True)]
                for n in sorted(docs["module"])]
        parts += ["## Modules", "", table(["Module", "Description"], rows), ""]
    for _d, ptype, out in OTHER_PLUGIN_TYPES:
        if docs.get(ptype):
            rows = [[link(ptype, n), markup(docs[ptype][n]["doc"].get("short_description", ""), ctx, True)]
                    for n in sorted(docs[ptype])]
            parts += ["## %s plugins" % ptype.capitalize(), "", table([ptype.capitalize(), "Description"], rows), ""]
    if roles:
        rows = [[link("role", r), markup(role_descs.get(r, ""), ctx, True)] for r in roles]
        parts += ["## Roles", "", table(["Role", "Description"], rows), ""]
    books = playbook_entries()
    if books:
        rows = []
        for stem, comments, hosts in books:
            desc = md_text(" ".join(c for c in comments if not c.startswith("ansible-playbook")))
            runs = [c for c in comments if c.startswith("ansible-playbook")]
            if runs:
                desc += "<br>" + "<br>".join(md_code(r, True) for r in runs)
            rows.append(["%s<br>%s" % (md_code("%s.%s" % (COLLECTION, stem), True),
                                       md_code("playbooks/%s.yml" % stem, True)),
                         ", ".join(md_code(h, True) for h in hosts), desc])
        parts += ["## Playbooks", "",
                  "Run by their collection name: `ansible-playbook -i inventory %s.<name>`." % COLLECTION, "",
                  table(["Playbook", "Hosts", "Description"], rows), ""]
    return "\n".join(parts).rstrip("\n") + "\n"


# --------------------------------------------------------------------------- driver


def render(ansible_doc):
    """{relative path: content} of every file under docs/reference/, and warnings."""
    warnings = []
    docs = plugin_docs(ansible_doc)
    roles = role_names()
    known = {ptype: set(entries) for ptype, entries in docs.items()}
    known["role"] = set(roles)
    files = {}
    for ptype, entries in sorted(docs.items()):
        for name, entry in sorted(entries.items()):
            ctx = Context(ptype, name, known)
            path = os.path.join(REF_DIR, TYPE_DIRS[ptype], name + ".md")
            files[path] = plugin_page(ptype, name, entry, ctx)
    role_descs = {}
    for role in roles:
        files[os.path.join(REF_DIR, "roles", role + ".md")] = role_page(role, known, warnings)
        specs = load_yaml(os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml")) or {}
        main = ((specs.get("argument_specs") or {}).get("main") or {})
        role_descs[role] = main.get("short_description", "")
    files[os.path.join(REF_DIR, "README.md")] = index_page(docs, roles, role_descs, known)
    return files, warnings


def existing_files():
    """Files under docs/reference/ this generator owns (README.md and the type directories)."""
    found = set()
    index = os.path.join(REF_DIR, "README.md")
    if os.path.exists(os.path.join(ROOT, index)):
        found.add(index)
    for out in sorted(set(TYPE_DIRS.values())):
        for path in glob.glob(os.path.join(ROOT, REF_DIR, out, "*.md")):
            found.add(os.path.relpath(path, ROOT))
    return found


def stale(files):
    """(changed or missing, extra) relative paths."""
    changed = []
    for path, content in sorted(files.items()):
        full = os.path.join(ROOT, path)
        try:
            with open(full, encoding="utf-8") as handle:
                if handle.read() == content:
                    continue
        except FileNotFoundError:
            pass
        changed.append(path)
    extra = sorted(existing_files() - set(files))
    return changed, extra


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 listing stale files")
    args = parser.parse_args(argv)
    ansible_doc = find_ansible_doc()
    if not ansible_doc:
        print("ansible-doc not found (run with the venv's Python: .venv/bin/python %s)" % GENERATOR,
              file=sys.stderr)
        return 2
    try:
        files, warnings = render(ansible_doc)
    except GenError as exc:
        print("gen_reference: %s" % exc, file=sys.stderr)
        return 2
    for warning in warnings:
        print("warning: %s" % warning, file=sys.stderr)
    changed, extra = stale(files)
    if args.check:
        if changed or extra:
            print("docs/reference is stale; run: .venv/bin/python %s" % GENERATOR)
            for path in changed:
                print("  out of date: %s" % path)
            for path in extra:
                print("  not generated (remove): %s" % path)
            return 1
        print("docs/reference is up to date (%d files)" % len(files))
        return 0
    for path in changed:
        full = os.path.join(ROOT, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as handle:
            handle.write(files[path])
        print("wrote %s" % path)
    for path in extra:
        os.remove(os.path.join(ROOT, path))
        print("removed %s" % path)
    print("%d files, %d written, %d removed" % (len(files), len(changed), len(extra)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
