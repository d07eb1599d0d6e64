"""Deterministic automata: the DFA algebra and extraction from RNN hidden states (P25 App. A).

``rnn.automata.drawing.draw_dfa`` (matplotlib) is imported from its module, so that
importing the algebra does not import a plotting library.
"""
from rnn.automata.dfa import (DFA, UNDEFINED, distinguishing_string, equivalent, minimal_size, minimize,
                              parity_dfa, reachable_states)
from rnn.automata.extraction import (CONFLICT_RULES, ORDERS, STD_CONVENTIONS, Extraction, StateCountHistory,
                                     extract_automaton, fidelity, infer_n_symbols, leader_grouping,
                                     output_classes, prefix_parents, state_count_history, std_norm,
                                     string_codes, visit_order)
from rnn.automata.random_dfa import dfa_targets, random_dfa

__all__ = ["DFA", "UNDEFINED", "distinguishing_string", "equivalent", "minimal_size", "minimize", "parity_dfa",
           "reachable_states", "CONFLICT_RULES", "ORDERS", "STD_CONVENTIONS", "Extraction", "StateCountHistory",
           "extract_automaton", "fidelity", "infer_n_symbols", "leader_grouping", "output_classes",
           "prefix_parents", "state_count_history", "std_norm", "string_codes", "visit_order",
           "dfa_targets", "random_dfa"]
