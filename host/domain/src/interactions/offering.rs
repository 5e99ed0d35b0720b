//! Who gets offered what: the rules of offering waiting interactions to agents, as
//! plain functions over snapshots the store reads. An interaction waiting in a group
//! goes to one member who is ready on its channel and has free capacity, longest idle
//! first; waiting interactions go out by routing priority (higher first), then oldest
//! first. An agent who rejected an interaction is passed over for it while anyone else
//! can take it. These functions decide; the store applies a decision in a transaction
//! that re-checks capacity and single offering, so concurrent offers cannot break them.

use std::cmp::Reverse;

/// How long an agent has to answer an offer when its group sets nothing (seed 003's
/// Invited is followed by Revoked when not accepted in time).
pub const DEFAULT_OFFER_TIMEOUT_MS: i64 = 30_000;

/// An agent who could take an interaction of one group and channel, as stored now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub agent_id: i64,
    /// Since when the agent has been without new work on the channel (ms): the later
    /// of becoming ready and the last offer made to them.
    pub idle_since: i64,
    /// Capacity on the channel less the interactions the agent holds or is offered.
    pub free: i64,
    /// Whether this agent rejected (or let time out) the interaction being placed.
    pub passed_on_it: bool,
}

/// The agent to offer an interaction to, if any: among those with free capacity, the
/// ones who have not passed on it come first; among those, the longest idle (ties by
/// agent id, so the choice is the same on every node). An agent who passed on it is
/// offered it again only when nobody else can take it.
pub fn choose_agent(candidates: &[Candidate]) -> Option<i64> {
    candidates
        .iter()
        .filter(|c| c.free > 0)
        .min_by_key(|c| (c.passed_on_it, c.idle_since, c.agent_id))
        .map(|c| c.agent_id)
}

/// An interaction waiting in a group for an offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waiting {
    pub interaction_id: i64,
    /// The routing decision's priority: higher goes first.
    pub priority: i64,
    /// When it started waiting (ms).
    pub queued_at: i64,
}

/// Sorts waiting interactions into the order they are offered in: higher priority
/// first, then the oldest, then by id.
pub fn offer_order(waiting: &mut [Waiting]) {
    waiting.sort_by_key(|w| (Reverse(w.priority), w.queued_at, w.interaction_id));
}

/// When an offer made at `offered_at` runs out, with the group's timeout (`None`:
/// [`DEFAULT_OFFER_TIMEOUT_MS`]). Fixed when the offer is made, so a group's new
/// timeout applies to the offers made after the change.
pub fn offer_runs_out_at(offered_at: i64, timeout_ms: Option<i64>) -> i64 {
    offered_at.saturating_add(timeout_ms.unwrap_or(DEFAULT_OFFER_TIMEOUT_MS))
}

/// Pairs waiting interactions (in [`offer_order`]) with agents, one offer per
/// interaction, never past an agent's free capacity: what one pass of the offering
/// loop over one channel proposes. `eligible(agent, interaction)` says whether the
/// agent is in the interaction's group, `passed(agent, interaction)` whether they passed
/// on it.
pub fn plan_offers(
    waiting: &[Waiting],
    candidates: &[Candidate],
    eligible: impl Fn(i64, i64) -> bool,
    passed: impl Fn(i64, i64) -> bool,
) -> Vec<(i64, i64)> {
    let mut order = waiting.to_vec();
    offer_order(&mut order);
    let mut agents = candidates.to_vec();
    let mut offers = Vec::new();
    for interaction in order {
        let view: Vec<Candidate> = agents
            .iter()
            .filter(|c| eligible(c.agent_id, interaction.interaction_id))
            .map(|c| Candidate {
                passed_on_it: passed(c.agent_id, interaction.interaction_id),
                ..*c
            })
            .collect();
        let Some(agent) = choose_agent(&view) else {
            continue;
        };
        offers.push((interaction.interaction_id, agent));
        if let Some(chosen) = agents.iter_mut().find(|c| c.agent_id == agent) {
            chosen.free -= 1;
            // Just given work: the next interaction goes to someone idle longer.
            chosen.idle_since = i64::MAX;
        }
    }
    offers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(agent_id: i64, idle_since: i64, free: i64) -> Candidate {
        Candidate {
            agent_id,
            idle_since,
            free,
            passed_on_it: false,
        }
    }

    fn waiting(interaction_id: i64, priority: i64, queued_at: i64) -> Waiting {
        Waiting {
            interaction_id,
            priority,
            queued_at,
        }
    }

    #[test]
    fn the_longest_idle_agent_with_free_capacity_is_chosen() {
        let agents = [agent(1, 500, 1), agent(2, 100, 0), agent(3, 300, 2)];
        // Agent 2 has been idle longest but is full.
        assert_eq!(choose_agent(&agents), Some(3));
        assert_eq!(choose_agent(&[agent(1, 5, 0)]), None);
        assert_eq!(choose_agent(&[]), None);
        // Equal idle times: the lower id, on every node alike.
        assert_eq!(choose_agent(&[agent(9, 7, 1), agent(4, 7, 1)]), Some(4));
    }

    #[test]
    fn an_agent_who_passed_gets_it_again_only_when_nobody_else_can() {
        let passed = Candidate {
            passed_on_it: true,
            ..agent(1, 0, 1)
        };
        assert_eq!(choose_agent(&[passed, agent(2, 900, 1)]), Some(2));
        assert_eq!(choose_agent(&[passed, agent(2, 900, 0)]), Some(1));
    }

    #[test]
    fn higher_priority_goes_first_then_the_oldest() {
        let mut queue = [
            waiting(1, 0, 100),
            waiting(2, 5, 300),
            waiting(3, 5, 200),
            waiting(4, 0, 50),
        ];
        offer_order(&mut queue);
        let ids: Vec<i64> = queue.iter().map(|w| w.interaction_id).collect();
        assert_eq!(ids, [3, 2, 4, 1]);
    }

    #[test]
    fn offers_run_out_after_the_groups_timeout() {
        assert_eq!(offer_runs_out_at(1_000, None), 31_000);
        assert_eq!(offer_runs_out_at(1_000, Some(5_000)), 6_000);
        assert_eq!(offer_runs_out_at(i64::MAX - 1, Some(5_000)), i64::MAX);
    }

    #[test]
    fn a_plan_never_exceeds_capacity_and_offers_each_interaction_once() {
        let queue = [waiting(10, 0, 1), waiting(11, 0, 2), waiting(12, 9, 3)];
        let agents = [agent(1, 100, 1), agent(2, 50, 1)];
        let offers = plan_offers(&queue, &agents, |_, _| true, |_, _| false);
        // Priority 9 first, to the longest idle; then the oldest, to the other; the
        // third waits: both agents are full.
        assert_eq!(offers, [(12, 2), (10, 1)]);
    }

    #[test]
    fn freed_capacity_takes_the_oldest_waiting_interaction() {
        // Chatwoot's users report queued conversations never assigned when capacity
        // frees: here an agent with one free slot gets the oldest of equal priority.
        let queue = [waiting(21, 0, 900), waiting(20, 0, 100)];
        let offers = plan_offers(&queue, &[agent(7, 0, 1)], |_, _| true, |_, _| false);
        assert_eq!(offers, [(20, 7)]);
    }

    #[test]
    fn a_plan_passes_over_who_rejected_while_others_are_free() {
        let queue = [waiting(30, 0, 1)];
        let agents = [agent(1, 0, 1), agent(2, 500, 1)];
        let offers = plan_offers(
            &queue,
            &agents,
            |_, _| true,
            |agent, interaction| agent == 1 && interaction == 30,
        );
        assert_eq!(offers, [(30, 2)]);
    }

    #[test]
    fn only_members_of_the_interactions_group_are_offered_it() {
        let queue = [waiting(40, 0, 1), waiting(41, 0, 2)];
        // Agent 1 (idle longest) is only in the group of 41; agent 2 only in 40's.
        let agents = [agent(1, 0, 5), agent(2, 900, 5)];
        let offers = plan_offers(
            &queue,
            &agents,
            |agent, interaction| (agent == 1) == (interaction == 41),
            |_, _| false,
        );
        assert_eq!(offers, [(40, 2), (41, 1)]);
    }
}
