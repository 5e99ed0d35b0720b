//! The keyword router: a routing application that sends each inbound message to the
//! ACD group whose keyword it contains. Behaviour: `../KEYWORD-ROUTER.md`; the Python
//! and JavaScript editions return the same decision for the same input.

mod matching;
mod settings;

use switchyard_guest::{
    ConnectorContext, Conversation, ConversationStatus, Decision, InboundMessage,
    RoutingApplication, acd, kv, log,
};

use crate::settings::Settings;

/// Every decision names its router in the interaction's user data.
const ROUTED_BY: (&str, &str) = ("routed_by", "keyword-router");

/// What the router needs from the host. Behind a trait so the whole decision, side
/// effects included, can be tested natively where the real imports do not exist, and
/// benchmarked natively by the host as the floor a sandbox is measured against.
pub trait Platform {
    /// Agents Ready in `group`, or `None` if the host knows no such group.
    fn ready_agents(&self, group: &str) -> Option<u32>;
    fn kv_get(&self, key: &str) -> Option<String>;
    fn kv_set(&mut self, key: &str, value: &str);
    fn log_info(&mut self, line: &str);
}

/// The real host, through the guest SDK.
struct Host;

impl Platform for Host {
    fn ready_agents(&self, group: &str) -> Option<u32> {
        acd::staffing(group).map(|staffing| staffing.ready_agents)
    }

    fn kv_get(&self, key: &str) -> Option<String> {
        kv::get(key)
    }

    fn kv_set(&mut self, key: &str, value: &str) {
        // Remembering the group only helps the next message; a full store or an
        // over-long sender must not cost this message its routing.
        let _ = kv::set(key, value);
    }

    fn log_info(&mut self, line: &str) {
        log::info(line);
    }
}

struct KeywordRouter;

impl RoutingApplication for KeywordRouter {
    fn route(
        message: InboundMessage,
        connector: ConnectorContext,
        conversation: Conversation,
    ) -> Decision {
        decide(&message, &connector.settings, &conversation, &mut Host)
    }
}

switchyard_guest::export_routing_application!(KeywordRouter);

/// The whole routing decision for `message`, given the connector's settings (JSON).
pub fn decide(
    message: &InboundMessage,
    settings: &str,
    conversation: &Conversation,
    platform: &mut impl Platform,
) -> Decision {
    let decision = match Settings::parse(settings) {
        Ok(settings) => route(message, &settings, platform),
        Err(invalid) => Decision::reject(invalid.to_string()),
    };
    // A message from someone nobody is talking to (re)opens the conversation, whatever
    // happens to the message itself.
    if conversation.is_idle() {
        decision.status(ConversationStatus::New)
    } else {
        decision
    }
}

fn route(message: &InboundMessage, settings: &Settings, platform: &mut impl Platform) -> Decision {
    let last_group_key = format!("last-group:{}", message.sender);

    if let Some((group, keyword)) = matching::find_match(&settings.groups, &message.body) {
        let overflow = settings.overflow_group.as_deref().filter(|_| {
            // Only a group the host knows and finds unstaffed overflows: a group it does
            // not know (staffing `None`) is still the target, for the host to judge.
            platform.ready_agents(&group.name) == Some(0)
        });
        let target = overflow.unwrap_or(&group.name);
        platform.kv_set(&last_group_key, target);
        platform.log_info(&format!("routed to {target} by keyword {keyword}"));

        let mut decision = Decision::to_group(target)
            .priority(group.priority)
            .user_data("matched_keyword", keyword)
            .user_data(ROUTED_BY.0, ROUTED_BY.1);
        if overflow.is_some() {
            decision = decision.user_data("overflow_from", &group.name);
        }
        if let Some(subject) = group.subject.as_ref().or(message.subject.as_ref()) {
            decision = decision.subject(subject);
        }
        return decision.tag(format!("keyword:{keyword}"));
    }

    platform.log_info("no keyword matched");
    let fallback = match platform.kv_get(&last_group_key) {
        Some(last) => Some((last, "last_group")),
        None => settings
            .default_group
            .clone()
            .map(|group| (group, "default_group")),
    };
    let mut decision = match fallback {
        Some((group, reason)) => {
            let decision = Decision::to_group(group)
                .user_data(ROUTED_BY.0, ROUTED_BY.1)
                .user_data("reason", reason);
            match &message.subject {
                Some(subject) => decision.subject(subject),
                None => decision,
            }
        }
        None => Decision::reject("no keyword matched and no default_group"),
    };
    if let Some(auto_reply) = &settings.auto_reply {
        decision = decision.reply(message.reply(auto_reply));
    }
    decision
}

#[cfg(test)]
mod tests;
