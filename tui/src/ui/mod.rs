//! Drawing: `draw(frame, &state)`, no side effects. One file per widget.

use crate::model::State;
use ratatui::Frame;

pub fn draw(frame: &mut Frame, state: &State) {
    let _ = (frame, state);
}
