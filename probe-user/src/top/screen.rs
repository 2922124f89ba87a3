//! The full-screen view of `top`: one row per container, refreshed every
//! interval; `s` changes the order, `/` filters by name, `q` quits.

use std::time::{Duration, Instant};

use anyhow::Result;
use ratatui::{
    Frame,
    crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers},
    layout::{Constraint, Layout},
    style::{Color, Modifier, Style},
    text::Line,
    widgets::{Cell, Paragraph, Row, Table},
};

use super::{
    Source,
    overview::{COLUMNS, Overview, SortKey},
};

/// What the screen shows and how.
struct View {
    overview: Overview,
    /// The last refresh's error, if it failed (the rows are then older).
    error: Option<String>,
    order: SortKey,
    filter: String,
    /// The filter being typed, after `/`.
    typing: Option<String>,
    source: String,
}

/// What a key does.
enum Action {
    Quit,
    Redraw,
    Nothing,
}

impl View {
    fn key(&mut self, key: KeyEvent) -> Action {
        if key.kind != KeyEventKind::Press {
            return Action::Nothing;
        }
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return Action::Quit;
        }
        if let Some(typing) = &mut self.typing {
            match key.code {
                KeyCode::Enter => self.filter = self.typing.take().unwrap_or_default(),
                KeyCode::Esc => self.typing = None,
                KeyCode::Backspace => {
                    typing.pop();
                }
                KeyCode::Char(c) => typing.push(c),
                _ => return Action::Nothing,
            }
            return Action::Redraw;
        }
        match key.code {
            KeyCode::Char('q') => Action::Quit,
            KeyCode::Char('s') => {
                self.order = self.order.next();
                Action::Redraw
            }
            KeyCode::Char('/') => {
                self.typing = Some(self.filter.clone());
                Action::Redraw
            }
            KeyCode::Esc => {
                self.filter.clear();
                Action::Redraw
            }
            _ => Action::Nothing,
        }
    }

    fn draw(&self, frame: &mut Frame) {
        let [header, table, footer] = Layout::vertical([
            Constraint::Length(2),
            Constraint::Fill(1),
            Constraint::Length(1),
        ])
        .areas(frame.area());
        let rows = self.overview.rows(self.order, &self.filter);
        let mut status = vec![Line::from(format!(
            "pressure-probe top · {} · window {:.0} s · {} containers, {} shown · sorted by {}{}",
            self.source,
            self.overview.window_seconds,
            self.overview.containers.len(),
            rows.len(),
            self.order.label(),
            if self.filter.is_empty() {
                String::new()
            } else {
                format!(" · filter \"{}\"", self.filter)
            },
        ))];
        if let Some(error) = &self.error {
            status.push(Line::styled(
                format!("refresh failed (showing older rows): {error}"),
                Style::new().fg(Color::Red),
            ));
        }
        frame.render_widget(Paragraph::new(status), header);

        let widths: [Constraint; COLUMNS.len()] = [
            Constraint::Fill(1),
            Constraint::Length(13),
            Constraint::Length(8),
            Constraint::Length(9),
            Constraint::Length(6),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(5),
            Constraint::Length(6),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(9),
            Constraint::Length(4),
        ];
        let body = rows.iter().map(|container| {
            let colour = match container.bottleneck.as_str() {
                "none" => Color::Reset,
                "cpu" | "accept_queue" | "workers" => Color::Yellow,
                _ => Color::Red,
            };
            Row::new(container.cells().map(Cell::from)).style(Style::new().fg(colour))
        });
        let table_widget = Table::new(body, widths)
            .header(Row::new(COLUMNS).style(Style::new().add_modifier(Modifier::BOLD)))
            .column_spacing(1);
        frame.render_widget(table_widget, table);

        let help = match &self.typing {
            Some(typing) => format!("filter: {typing}▏  (Enter apply · Esc cancel)"),
            None => "q quit · s sort · / filter · Esc clear filter".into(),
        };
        frame.render_widget(Paragraph::new(help), footer);
    }
}

/// Shows `first`, then refreshes from `source` every `interval`, until
/// the user quits. The terminal is restored however it ends.
pub fn show(source: &Source, first: Overview, interval: Duration) -> Result<()> {
    let mut view = View {
        overview: first,
        error: None,
        order: SortKey::Worst,
        filter: String::new(),
        typing: None,
        source: source.describe(),
    };
    let mut terminal = ratatui::try_init()?;
    let result = (|| -> Result<()> {
        let mut next = Instant::now() + interval;
        terminal.draw(|frame| view.draw(frame))?;
        loop {
            let now = Instant::now();
            if now >= next {
                match source.fetch() {
                    Ok(overview) => {
                        view.overview = overview;
                        view.error = None;
                    }
                    Err(err) => view.error = Some(format!("{err:#}")),
                }
                next = now + interval;
                terminal.draw(|frame| view.draw(frame))?;
            }
            if event::poll(next.saturating_duration_since(Instant::now()))? {
                let action = match event::read()? {
                    Event::Key(key) => view.key(key),
                    Event::Resize(..) => Action::Redraw,
                    _ => Action::Nothing,
                };
                match action {
                    Action::Quit => return Ok(()),
                    Action::Redraw => {
                        terminal.draw(|frame| view.draw(frame))?;
                    }
                    Action::Nothing => {}
                }
            }
        }
    })();
    ratatui::restore();
    result
}
