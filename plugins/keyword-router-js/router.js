// Switchyard keyword router in JavaScript (componentize-js guest); behaviour: ../KEYWORD-ROUTER.md.
//
// It must return the same decision as the Rust and Python routers for the same input,
// so the settings rules and texts here mirror theirs rather than JavaScript idioms.
// componentize-js maps WIT as follows: records have camelCase fields, enums are their
// kebab-case names, option<T> is `undefined` or the value, tuples are arrays, variants
// are `{ tag, val }`, and an imported result<_, E> throws when it is an error.

import { log } from 'switchyard:routing/log@0.1.1';
import { get as kvGet, set as kvSet } from 'switchyard:routing/kv@0.1.1';
import { availability } from 'switchyard:routing/acd@0.1.1';
import { ALNUM, CASED, CASE_IGNORABLE } from './unicode-tables.js';

const ROUTED_BY = ['routed_by', 'keyword-router'];
const U32_MAX = 4294967295;

class InvalidSettings extends Error {}

function inTable(table, cp) {
  let lo = 0;
  let hi = table.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (table[mid] <= cp) lo = mid + 1;
    else hi = mid;
  }
  return (lo & 1) === 1;
}

// True if, skipping case-ignorable code points, the first one is cased (Rust's rule).
function casedAfterIgnorable(codePoints) {
  for (const cp of codePoints) {
    if (!inTable(CASE_IGNORABLE, cp)) return inTable(CASED, cp);
  }
  return false;
}

// Rust's str::to_lowercase. SpiderMonkey without ICU maps each code point like Rust
// (checked for all of Unicode 17) but always lowercases capital sigma to σ, where
// Rust writes ς at the end of a word.
function toLowercase(text) {
  if (!text.includes('Σ')) return text.toLowerCase();
  const cps = Array.from(text, (ch) => ch.codePointAt(0));
  let out = '';
  cps.forEach((cp, i) => {
    if (cp === 0x3a3) {
      const final =
        casedAfterIgnorable(cps.slice(0, i).reverse()) && !casedAfterIgnorable(cps.slice(i + 1));
      out += final ? 'ς' : 'σ';
    } else {
      out += String.fromCodePoint(cp).toLowerCase();
    }
  });
  return out;
}

// Maximal runs of Rust-alphanumeric code points (Unicode Alphabetic or Numeric) of the
// lowercased text. A table, because this SpiderMonkey has no \p{...} regex escapes.
function tokens(text) {
  const out = [];
  let current = '';
  for (const ch of toLowercase(text)) {
    if (inTable(ALNUM, ch.codePointAt(0))) {
      current += ch;
    } else if (current !== '') {
      out.push(current);
      current = '';
    }
  }
  if (current !== '') out.push(current);
  return out;
}

function containsRun(haystack, needle) {
  if (needle.length === 0 || needle.length > haystack.length) return false;
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (haystack[i + j] !== needle[j]) continue outer;
    }
    return true;
  }
  return false;
}

const isObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);

// JSON null counts as absent, as serde's Option does in the Rust router.
function optionalString(obj, key, where) {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new InvalidSettings(`${where} is not a string`);
  return value;
}

// serde_json reads 5.0, 1e2 and -0 as floats, which Rust refuses as a priority, but
// JSON.parse turns them into integers. The reviver sees the number as written (JSON.parse
// source text access) and makes every number not written as plain digits NaN, which
// fails the priority check and changes nothing for fields that must not be numbers.
function integersAsWritten(_key, value, context) {
  if (typeof value === 'number' && context !== undefined && !/^[0-9]+$/.test(context.source)) {
    return NaN;
  }
  return value;
}

function parseSettings(text) {
  let root;
  try {
    root = JSON.parse(text, integersAsWritten);
  } catch {
    throw new InvalidSettings('not valid JSON');
  }
  if (!isObject(root)) throw new InvalidSettings('not a JSON object');
  // Without a prototype, a missing "constructor" or "toString" setting reads as absent.
  root = Object.assign(Object.create(null), root);

  let rawGroups = root.groups;
  if (rawGroups === undefined || rawGroups === null) rawGroups = [];
  if (!Array.isArray(rawGroups)) throw new InvalidSettings('groups is not a list');

  const groups = rawGroups.map((raw, i) => {
    const where = `groups[${i}]`;
    if (!isObject(raw)) throw new InvalidSettings(`${where} is not an object`);
    raw = Object.assign(Object.create(null), raw);
    const name = optionalString(raw, 'group', `${where}.group`);
    if (name === undefined) throw new InvalidSettings(`${where}.group is missing`);
    let keywords = raw.keywords;
    if (keywords === undefined || keywords === null) keywords = [];
    if (!Array.isArray(keywords) || !keywords.every((k) => typeof k === 'string')) {
      throw new InvalidSettings(`${where}.keywords is not a list of strings`);
    }
    const subject = optionalString(raw, 'subject', `${where}.subject`);
    let priority = raw.priority;
    if (priority === undefined || priority === null) priority = 0;
    if (!Number.isInteger(priority) || priority < 0 || priority > U32_MAX) {
      throw new InvalidSettings(`${where}.priority is not an integer from 0 to 4294967295`);
    }
    return { name, keywords, subject, priority };
  });

  return {
    groups,
    defaultGroup: optionalString(root, 'default_group', 'default_group'),
    autoReply: optionalString(root, 'auto_reply', 'auto_reply'),
    overflowGroup: optionalString(root, 'overflow_group', 'overflow_group'),
  };
}

function findMatch(settings, bodyTokens) {
  for (const group of settings.groups) {
    for (const keyword of group.keywords) {
      if (containsRun(bodyTokens, tokens(keyword))) return { group, keyword };
    }
  }
  return undefined;
}

function decide(message, settingsText) {
  let settings;
  try {
    settings = parseSettings(settingsText);
  } catch (e) {
    if (!(e instanceof InvalidSettings)) throw e;
    return { target: { tag: 'reject', val: `invalid settings: ${e.message}` }, tags: [], replies: [] };
  }

  const key = 'last-group:' + message.sender;
  const found = findMatch(settings, tokens(message.body));
  if (found !== undefined) {
    const { group, keyword } = found;
    let targetGroup = group.name;
    const userData = [['matched_keyword', keyword], ROUTED_BY];
    if (settings.overflowGroup !== undefined) {
      const staffing = availability(group.name);
      if (staffing !== undefined && staffing.readyAgents === 0) {
        targetGroup = settings.overflowGroup;
        userData.push(['overflow_from', group.name]);
      }
    }
    try {
      kvSet(key, targetGroup);
    } catch {
      // Remembering the group is a convenience; routing must not fail over it.
    }
    log('info', `routed to ${targetGroup} by keyword ${keyword}`);
    return {
      target: {
        tag: 'acd-group',
        val: {
          group: targetGroup,
          priority: group.priority,
          subject: group.subject !== undefined ? group.subject : message.subject,
          userData,
        },
      },
      tags: ['keyword:' + keyword],
      replies: [],
    };
  }

  log('info', 'no keyword matched');
  const last = kvGet(key);
  let target;
  if (last !== undefined) {
    target = {
      tag: 'acd-group',
      val: { group: last, priority: 0, subject: message.subject, userData: [ROUTED_BY, ['reason', 'last_group']] },
    };
  } else if (settings.defaultGroup !== undefined) {
    target = {
      tag: 'acd-group',
      val: {
        group: settings.defaultGroup,
        priority: 0,
        subject: message.subject,
        userData: [ROUTED_BY, ['reason', 'default_group']],
      },
    };
  } else {
    target = { tag: 'reject', val: 'no keyword matched and no default_group' };
  }
  const replies = [];
  if (settings.autoReply !== undefined) {
    replies.push({ channel: message.channel, recipient: undefined, subject: undefined, body: settings.autoReply });
  }
  return { target, tags: [], replies };
}

export function route(message, connector, conversation) {
  const { target, tags, replies } = decide(message, connector.settings);
  const status =
    conversation.status === 'not-contacted' || conversation.status === 'closed' ? 'new' : undefined;
  return { target, status, tags, replies };
}
