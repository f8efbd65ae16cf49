//! `update`: the only place the state changes. No I/O: what must happen
//! outside is returned as effects for the runtime.

use super::{Action, Effect, Overlay, Pane, State};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use trawl_scraper::record::Target;

pub fn update(state: &mut State, action: Action) -> Vec<Effect> {
    match action {
        Action::Key(key) if key.kind != KeyEventKind::Release => {
            state.message = None;
            on_key(state, key)
        }
        Action::Key(_) | Action::Resize => Vec::new(),
        Action::Paste(text) => {
            paste(state, &text);
            Vec::new()
        }
        Action::Tick(now) => {
            state.now = now;
            state.completions.advance(now);
            refresh_pool_if_stale(state)
        }
        Action::TargetsProbed(targets) => {
            state.targets = targets;
            Vec::new()
        }
        Action::RunStarted(info) => {
            if state.run.as_ref().map(|r| &r.run_id) != Some(&info.run_id) {
                state.results.clear();
                state.completions = Default::default();
                state.body_preview = None;
            }
            state.target = info.target;
            state.run = Some(info);
            state.submitting = false;
            Vec::new()
        }
        Action::Records { run_id, records } => {
            if state.run.as_ref().is_some_and(|r| r.run_id == run_id) {
                let finished = state.results.apply(records);
                if finished > 0 {
                    state.completions.add(state.now, finished as u64);
                }
                state.fleet.flag_egress_mismatches(state.results.records());
            }
            Vec::new()
        }
        Action::RunsListed(runs) => {
            state.runs = runs;
            Vec::new()
        }
        Action::FleetChanged(fleet) => {
            state.fleet = fleet;
            state.fleet.flag_egress_mismatches(state.results.records());
            Vec::new()
        }
        Action::FileLoaded { path, result } => {
            match result {
                Ok(text) => {
                    state.editor.set_text(&text);
                    let c = &state.editor.check;
                    state.message = Some(format!(
                        "loaded {path}: {} valid, {} invalid, {} duplicate",
                        c.valid(),
                        c.invalid,
                        c.duplicates
                    ));
                    state.focus = Pane::Editor;
                }
                Err(e) => state.last_error = Some(e),
            }
            Vec::new()
        }
        Action::BodyLoaded { url_key, result } => {
            state.body_preview = Some((url_key, result));
            Vec::new()
        }
        Action::Error(e) => {
            state.last_error = Some(e);
            state.submitting = false;
            Vec::new()
        }
        Action::StoreStatus(problem) => {
            state.store_problem = problem;
            Vec::new()
        }
        Action::PoolLoaded(result) => {
            state.pool.loading = false;
            match result {
                Ok(pool) => {
                    state.pool.pool = Some(pool);
                    state.pool.error = None;
                }
                Err(e) => state.pool.error = Some(e),
            }
            Vec::new()
        }
        Action::CopyReady { text, note } => {
            state.message = Some(note);
            vec![Effect::Copy(text)]
        }
        Action::Terminate => {
            state.should_quit = true;
            vec![Effect::Quit]
        }
    }
}

/// Seconds after which an open pool view reads the pool again.
pub const POOL_REFRESH_SECS: i64 = 15;

fn load_pool(state: &mut State) -> Vec<Effect> {
    if state.pool.loading {
        return Vec::new();
    }
    state.pool.loading = true;
    state.pool.asked_at = state.now;
    vec![Effect::LoadPool]
}

/// While the pool view is open, it stays current (and a failed read is
/// tried again).
fn refresh_pool_if_stale(state: &mut State) -> Vec<Effect> {
    let open = matches!(state.overlay, Some(Overlay::Pool { .. }));
    if open && state.now - state.pool.asked_at >= POOL_REFRESH_SECS {
        load_pool(state)
    } else {
        Vec::new()
    }
}

fn paste(state: &mut State, text: &str) {
    match &mut state.overlay {
        Some(Overlay::LoadFile { path }) => path.push_str(text.trim()),
        Some(Overlay::Filter { text: filter }) => {
            filter.push_str(text.trim());
            let f = filter.clone();
            state.results.set_filter(f);
        }
        _ => {
            // Terminals send CR line ends in bracketed paste.
            let text = text.replace("\r\n", "\n").replace('\r', "\n");
            state.focus = Pane::Editor;
            state.editor.textarea.insert_str(text);
            state.editor.recheck();
        }
    }
}

fn ctrl(key: &KeyEvent, c: char) -> bool {
    key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char(c)
}

fn on_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    if ctrl(&key, 'c') {
        return quit(state);
    }
    if state.overlay.is_some() {
        return on_overlay_key(state, key);
    }
    if ctrl(&key, 's') {
        return ask_submit(state);
    }
    if ctrl(&key, 'o') {
        state.overlay = Some(Overlay::LoadFile {
            path: String::new(),
        });
        return Vec::new();
    }
    match key.code {
        KeyCode::Tab => {
            move_focus(state, 1);
            return Vec::new();
        }
        KeyCode::BackTab => {
            move_focus(state, -1);
            return Vec::new();
        }
        _ => {}
    }
    if state.focus == Pane::Editor {
        if key.code == KeyCode::Esc {
            state.focus = Pane::Results;
        } else if state.editor.textarea.input(key) {
            state.editor.recheck();
        }
        return Vec::new();
    }
    match key.code {
        KeyCode::Char('q') => quit(state),
        KeyCode::Char('?') => {
            state.overlay = Some(Overlay::Help);
            Vec::new()
        }
        KeyCode::Char('t') => {
            cycle_target(state, 1);
            Vec::new()
        }
        KeyCode::Char('/') => {
            state.focus = Pane::Results;
            state.overlay = Some(Overlay::Filter {
                text: state.results.filter.clone(),
            });
            Vec::new()
        }
        KeyCode::Char('s') => {
            let next = state.results.sort.next();
            let desc = state.results.descending;
            state.results.set_sort(next, desc);
            Vec::new()
        }
        KeyCode::Char('S') => {
            let sort = state.results.sort;
            let desc = !state.results.descending;
            state.results.set_sort(sort, desc);
            Vec::new()
        }
        KeyCode::Char('f') => {
            state.results.follow = !state.results.follow;
            state.message = Some(if state.results.follow {
                "follow on: the newest result stays selected".into()
            } else {
                "follow off".into()
            });
            Vec::new()
        }
        KeyCode::Char('r') => {
            state.overlay = Some(Overlay::Runs { selected: 0 });
            vec![Effect::ListRuns]
        }
        KeyCode::Char('x') => {
            if state.run_active() {
                state.overlay = Some(Overlay::ConfirmCancel);
            } else {
                state.message = Some("no run in progress to cancel".into());
            }
            Vec::new()
        }
        KeyCode::Char('y') => copy_selected(state),
        KeyCode::Char('e') => {
            state.overlay = Some(Overlay::Pool { scroll: 0 });
            load_pool(state)
        }
        KeyCode::Enter if state.focus == Pane::Results => open_detail(state),
        _ => {
            navigate(state, key);
            Vec::new()
        }
    }
}

fn on_overlay_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let Some(overlay) = state.overlay.take() else {
        return Vec::new();
    };
    let yes = matches!(
        key.code,
        KeyCode::Enter | KeyCode::Char('y') | KeyCode::Char('Y')
    );
    let no = matches!(
        key.code,
        KeyCode::Esc | KeyCode::Char('n') | KeyCode::Char('N')
    );
    match overlay {
        Overlay::Help => {
            if !matches!(
                key.code,
                KeyCode::Esc | KeyCode::Char('?') | KeyCode::Char('q') | KeyCode::Enter
            ) {
                state.overlay = Some(Overlay::Help);
            }
            Vec::new()
        }
        Overlay::ConfirmSubmit if yes => {
            state.submitting = true;
            state.last_error = None;
            state.focus = Pane::Results;
            vec![Effect::Submit {
                target: state.target,
                urls: state.editor.check.urls.clone(),
            }]
        }
        Overlay::ConfirmCancel if yes => match &state.run {
            Some(run) => vec![Effect::Cancel {
                run_id: run.run_id.clone(),
                target: run.target,
            }],
            None => Vec::new(),
        },
        Overlay::ConfirmQuit if yes => {
            state.should_quit = true;
            vec![Effect::Quit]
        }
        Overlay::ConfirmSubmit | Overlay::ConfirmCancel | Overlay::ConfirmQuit => {
            if !no {
                state.overlay = Some(overlay);
            }
            Vec::new()
        }
        Overlay::Detail { url_key, scroll } => {
            let scroll = match key.code {
                KeyCode::Esc | KeyCode::Char('q') | KeyCode::Enter => return Vec::new(),
                KeyCode::Char('y') => {
                    state.overlay = Some(Overlay::Detail { url_key, scroll });
                    return copy_selected(state);
                }
                KeyCode::Char('p') => {
                    let record = state.results.get(&url_key).cloned();
                    state.overlay = Some(Overlay::Detail { url_key, scroll });
                    return match record {
                        Some(r) if r.object_key.is_some() => {
                            vec![Effect::CopyBodyLink {
                                record: Box::new(r),
                                store: state.store_kind(),
                            }]
                        }
                        _ => {
                            state.message = Some("no body was stored for this URL".into());
                            Vec::new()
                        }
                    };
                }
                KeyCode::Down | KeyCode::Char('j') => scroll.saturating_add(1),
                KeyCode::Up | KeyCode::Char('k') => scroll.saturating_sub(1),
                KeyCode::PageDown | KeyCode::Char(' ') => scroll.saturating_add(10),
                KeyCode::PageUp => scroll.saturating_sub(10),
                KeyCode::Home | KeyCode::Char('g') => 0,
                _ => scroll,
            };
            state.overlay = Some(Overlay::Detail { url_key, scroll });
            Vec::new()
        }
        Overlay::Runs { selected } => {
            let last = state.runs.len().saturating_sub(1);
            let selected = match key.code {
                KeyCode::Esc | KeyCode::Char('q') => return Vec::new(),
                KeyCode::Enter => {
                    return match state.runs.get(selected) {
                        Some(run) => vec![Effect::Attach {
                            run_id: run.info.run_id.clone(),
                            target: run.info.target,
                        }],
                        None => Vec::new(),
                    };
                }
                KeyCode::Down | KeyCode::Char('j') => (selected + 1).min(last),
                KeyCode::Up | KeyCode::Char('k') => selected.saturating_sub(1),
                _ => selected,
            };
            state.overlay = Some(Overlay::Runs { selected });
            Vec::new()
        }
        Overlay::Pool { scroll } => {
            let scroll = match key.code {
                KeyCode::Esc | KeyCode::Char('q') | KeyCode::Char('e') => return Vec::new(),
                KeyCode::Char('r') => {
                    state.overlay = Some(Overlay::Pool { scroll });
                    return load_pool(state);
                }
                KeyCode::Down | KeyCode::Char('j') => scroll.saturating_add(1),
                KeyCode::Up | KeyCode::Char('k') => scroll.saturating_sub(1),
                KeyCode::PageDown | KeyCode::Char(' ') => scroll.saturating_add(10),
                KeyCode::PageUp => scroll.saturating_sub(10),
                KeyCode::Home | KeyCode::Char('g') => 0,
                _ => scroll,
            };
            state.overlay = Some(Overlay::Pool { scroll });
            Vec::new()
        }
        Overlay::LoadFile { mut path } => match key.code {
            KeyCode::Esc => Vec::new(),
            KeyCode::Enter => {
                let path = path.trim().to_owned();
                if path.is_empty() {
                    Vec::new()
                } else {
                    vec![Effect::LoadFile(path)]
                }
            }
            KeyCode::Backspace => {
                path.pop();
                state.overlay = Some(Overlay::LoadFile { path });
                Vec::new()
            }
            KeyCode::Char(c) => {
                path.push(c);
                state.overlay = Some(Overlay::LoadFile { path });
                Vec::new()
            }
            _ => {
                state.overlay = Some(Overlay::LoadFile { path });
                Vec::new()
            }
        },
        Overlay::Filter { mut text } => {
            match key.code {
                KeyCode::Esc => {
                    state.results.set_filter(String::new());
                    return Vec::new();
                }
                KeyCode::Enter => return Vec::new(),
                KeyCode::Backspace => {
                    text.pop();
                }
                KeyCode::Char(c) => text.push(c),
                _ => {}
            }
            state.results.set_filter(text.clone());
            state.overlay = Some(Overlay::Filter { text });
            Vec::new()
        }
    }
}

/// Quits, asking first while a submission is being written or a local run
/// is going (its workers stop with trawl; EKS and ECS runs go on without it).
fn quit(state: &mut State) -> Vec<Effect> {
    let local_run = state.run_active()
        && state
            .run
            .as_ref()
            .is_some_and(|r| r.target == Target::Local);
    // An ECS run this trawl is still launching: quitting leaves the rest
    // of its URLs QUEUED.
    let launching = state.fleet.launch.is_some_and(|l| l.waiting > 0);
    if state.submitting || local_run || launching {
        state.overlay = Some(Overlay::ConfirmQuit);
        return Vec::new();
    }
    state.should_quit = true;
    vec![Effect::Quit]
}

fn ask_submit(state: &mut State) -> Vec<Effect> {
    if state.submitting {
        state.message = Some("a submission is already in flight".into());
        return Vec::new();
    }
    if state.editor.check.valid() == 0 {
        state.last_error = Some(match state.editor.check.first_invalid() {
            Some((line, why)) => format!(
                "nothing to submit: line {} {why}; fix the lines marked ✗",
                line + 1
            ),
            None => "nothing to submit: paste URLs into the editor or load a file (Ctrl-O)".into(),
        });
        return Vec::new();
    }
    if let Some(why) = state
        .target_option(state.target)
        .and_then(|t| t.unavailable.clone())
    {
        state.last_error = Some(format!(
            "{} is not available: {why}; press t to pick another target",
            state.target
        ));
        return Vec::new();
    }
    state.overlay = Some(Overlay::ConfirmSubmit);
    Vec::new()
}

fn move_focus(state: &mut State, step: isize) {
    let n = Pane::ORDER.len() as isize;
    let i = Pane::ORDER
        .iter()
        .position(|p| *p == state.focus)
        .unwrap_or(0) as isize;
    state.focus = Pane::ORDER[((i + step).rem_euclid(n)) as usize];
}

fn cycle_target(state: &mut State, step: isize) {
    let all = [Target::Local, Target::Eks, Target::Ecs];
    let i = all.iter().position(|t| *t == state.target).unwrap_or(0) as isize;
    state.target = all[((i + step).rem_euclid(all.len() as isize)) as usize];
    if let Some(why) = state
        .target_option(state.target)
        .and_then(|t| t.unavailable.clone())
    {
        state.message = Some(format!("{} is not available: {why}", state.target));
    }
}

fn navigate(state: &mut State, key: KeyEvent) {
    let down = matches!(key.code, KeyCode::Down | KeyCode::Char('j'));
    let up = matches!(key.code, KeyCode::Up | KeyCode::Char('k'));
    match state.focus {
        Pane::Targets if down || matches!(key.code, KeyCode::Right | KeyCode::Char('l')) => {
            cycle_target(state, 1)
        }
        Pane::Targets if up || matches!(key.code, KeyCode::Left | KeyCode::Char('h')) => {
            cycle_target(state, -1)
        }
        Pane::Results => {
            let r = &mut state.results;
            let last = r.view_len().saturating_sub(1);
            let to = match key.code {
                _ if down => r.selected.saturating_add(1),
                _ if up => r.selected.saturating_sub(1),
                KeyCode::PageDown => r.selected.saturating_add(20),
                KeyCode::PageUp => r.selected.saturating_sub(20),
                KeyCode::Home | KeyCode::Char('g') => 0,
                KeyCode::End | KeyCode::Char('G') => last,
                _ => return,
            };
            // Moving by hand ends follow mode.
            r.follow = false;
            r.select(to);
        }
        _ => {}
    }
}

fn open_detail(state: &mut State) -> Vec<Effect> {
    let Some(record) = state.results.selected_record() else {
        return Vec::new();
    };
    state.overlay = Some(Overlay::Detail {
        url_key: record.url_key.clone(),
        scroll: 0,
    });
    if record.object_key.is_some()
        && state.body_preview.as_ref().map(|(k, _)| k) != Some(&record.url_key)
    {
        state.body_preview = None;
        return vec![Effect::LoadBody {
            record: Box::new(record.clone()),
            store: state.store_kind(),
        }];
    }
    Vec::new()
}

fn copy_selected(state: &mut State) -> Vec<Effect> {
    let Some(r) = state.results.selected_record() else {
        state.message = Some("nothing selected to copy".into());
        return Vec::new();
    };
    let text = match &r.object_key {
        Some(key) => format!("{}\t{key}", r.url),
        None => r.url.clone(),
    };
    state.message = Some("copied the URL and where its body is stored".into());
    vec![Effect::Copy(text)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RunInfo;
    use trawl_scraper::record::{Record, Status};

    fn key(code: KeyCode) -> Action {
        Action::Key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    fn ctrl_key(c: char) -> Action {
        Action::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
    }

    #[test]
    fn paste_then_submit_asks_and_sends_only_valid_urls() {
        let mut s = State::default();
        update(
            &mut s,
            Action::Paste(
                "https://a.example/\r\nnot a url\r\nhttps://a.example/\r\nhttps://b.example/"
                    .into(),
            ),
        );
        assert_eq!(s.editor.check.valid(), 2);
        assert_eq!(s.editor.check.invalid, 1);
        assert_eq!(s.editor.check.duplicates, 1);
        assert!(update(&mut s, ctrl_key('s')).is_empty());
        assert_eq!(s.overlay, Some(Overlay::ConfirmSubmit));
        let effects = update(&mut s, key(KeyCode::Char('y')));
        assert_eq!(
            effects,
            vec![Effect::Submit {
                target: Target::Local,
                urls: vec!["https://a.example/".into(), "https://b.example/".into()]
            }]
        );
        assert!(s.submitting);
        // Ctrl-C while submitting asks first.
        assert!(update(&mut s, ctrl_key('c')).is_empty());
        assert_eq!(s.overlay, Some(Overlay::ConfirmQuit));
        assert!(update(&mut s, key(KeyCode::Esc)).is_empty());
        assert!(!s.should_quit);
    }

    #[test]
    fn submitting_nothing_or_to_an_unavailable_target_says_why() {
        let mut s = State::default();
        update(&mut s, ctrl_key('s'));
        assert!(
            s.last_error
                .as_deref()
                .unwrap()
                .starts_with("nothing to submit")
        );
        update(&mut s, Action::Paste("https://a.example/".into()));
        update(&mut s, key(KeyCode::Esc));
        update(&mut s, key(KeyCode::Char('t')));
        assert_eq!(s.target, Target::Eks);
        update(&mut s, ctrl_key('s'));
        assert_eq!(s.overlay, None);
        assert!(
            s.last_error.as_deref().unwrap().contains("press t"),
            "{:?}",
            s.last_error
        );
    }

    #[test]
    fn q_types_in_the_editor_and_quits_elsewhere() {
        let mut s = State::default();
        assert!(update(&mut s, key(KeyCode::Char('q'))).is_empty());
        assert_eq!(s.editor.textarea.lines()[0], "q");
        update(&mut s, key(KeyCode::Esc));
        assert_eq!(update(&mut s, key(KeyCode::Char('q'))), vec![Effect::Quit]);
    }

    #[test]
    fn records_of_the_current_run_fill_the_table_and_sparkline() {
        let mut s = State::default();
        update(&mut s, Action::Tick(100));
        update(
            &mut s,
            Action::RunStarted(RunInfo::new(
                "r-20261124-050000-abcd",
                Target::Local,
                2,
                "2026-11-24T05:00:00.000Z".into(),
            )),
        );
        let mut r = Record::new("r-20261124-050000-abcd", "https://a.example/", 1);
        r.status = Some(Status::Done);
        let other = Record::new("r-20261124-060000-zzzz", "https://b.example/", 1);
        update(
            &mut s,
            Action::Records {
                run_id: "r-20261124-050000-abcd".into(),
                records: vec![r],
            },
        );
        update(
            &mut s,
            Action::Records {
                run_id: "r-20261124-060000-zzzz".into(),
                records: vec![other],
            },
        );
        assert_eq!(s.results.len(), 1);
        assert_eq!(s.completions.buckets.back(), Some(&1));
        assert!(s.run_active());
        // Enter on the results opens the detail view.
        s.focus = Pane::Results;
        update(&mut s, key(KeyCode::Enter));
        assert!(matches!(s.overlay, Some(Overlay::Detail { .. })));
    }
}
